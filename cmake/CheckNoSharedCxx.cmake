# cmake -DOBJDUMP=... -DFILE=... -P CheckNoSharedCxx.cmake: fails when FILE, an executable
# linked with MINIVMM_STATIC_EXE, still needs libstdc++, libgcc_s, libfmt or libspdlog shared.
execute_process(COMMAND ${OBJDUMP} -p ${FILE} OUTPUT_VARIABLE headers RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${OBJDUMP} -p ${FILE} failed")
endif()
string(REGEX MATCHALL "NEEDED +[^\n]+" needed "${headers}")
foreach(entry IN LISTS needed)
  if(entry MATCHES "lib(stdc\\+\\+|gcc_s|fmt|spdlog)\\.so")
    message(FATAL_ERROR "${FILE}: ${entry} (MINIVMM_STATIC_EXE links these statically; a symbol "
                        "src/cli/static_deps/ does not instantiate came from the shared library)")
  endif()
endforeach()
