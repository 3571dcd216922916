# cmake -DAGENT=FILE -DTEMPLATE=agent_image_data.cpp.in -DOUT=FILE.cpp -P EmbedGuestAgent.cmake:
# writes the source that embeds the guest agent (see the template), rewritten only when the
# agent changed.
file(SHA256 ${AGENT} AGENT_SHA256)
configure_file(${TEMPLATE} ${OUT} @ONLY)
