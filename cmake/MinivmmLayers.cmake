# One folder = one layer = one CMake target (docs/architecture.md "Layers").
#
# Each layer is an OBJECT library built from the .cpp files of its folder (sub-folders
# included, except those that are layers of their own). A layer's headers are reachable
# only through an include root made for it in the build tree, build/layers/NAME/, which
# holds one symbolic link, named after the folder, to the folder itself (for a folder with
# a child layer, such as devices/ with devices/virtio/, a real folder of links to its
# entries, leaving the child out). `#include "memory/guest_memory.hpp"` therefore resolves
# only in a layer that lists memory among its DEPS (directly or through a layer below it):
# an include of a layer above fails to compile. libminivmm.a is all layers' objects.
#
# minivmm_layer(NAME DIR folder-under-src [CHILD_LAYERS sub...] [DEPS layer...] [LIBS target...])
set(MINIVMM_LAYER_ROOT ${PROJECT_BINARY_DIR}/layers)
set_property(GLOBAL PROPERTY MINIVMM_LAYERS "")      # the OBJECT libraries: libminivmm.a's objects
set_property(GLOBAL PROPERTY MINIVMM_LAYER_ROOTS "") # every layer's include root (tests, fuzz)

# minivmm_unity_build(TARGET): TARGET's sources in batches of 16 when MINIVMM_UNITY_BUILD is on
# (CMakeLists.txt says why).
function(minivmm_unity_build target)
  if(MINIVMM_UNITY_BUILD)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 16)
    # GCC takes the .cpp files a batch includes for headers, and then reports every coroutine
    # frame (qcow2) holding a type of the file's anonymous namespace as -Wsubobject-linkage:
    # within one translation unit there is no such ODR hazard.
    target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Wno-subobject-linkage>)
  endif()
endfunction()

function(minivmm_layer name)
  cmake_parse_arguments(PARSE_ARGV 1 L "" "DIR" "CHILD_LAYERS;DEPS;LIBS")
  set(src ${PROJECT_SOURCE_DIR}/src/${L_DIR})
  set(root ${MINIVMM_LAYER_ROOT}/${name})
  file(REMOVE_RECURSE ${root})
  set_property(GLOBAL APPEND PROPERTY MINIVMM_LAYER_ROOTS ${root})
  get_filename_component(parent ${root}/${L_DIR} DIRECTORY)
  file(MAKE_DIRECTORY ${parent})
  if(L_CHILD_LAYERS)
    file(MAKE_DIRECTORY ${root}/${L_DIR})
    file(GLOB entries CONFIGURE_DEPENDS LIST_DIRECTORIES true RELATIVE ${src} ${src}/*)
    foreach(entry IN LISTS entries)
      if(NOT entry IN_LIST L_CHILD_LAYERS)
        file(CREATE_LINK ${src}/${entry} ${root}/${L_DIR}/${entry} SYMBOLIC)
      endif()
    endforeach()
  else()
    file(CREATE_LINK ${src} ${root}/${L_DIR} SYMBOLIC)
  endif()

  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${src}/*.cpp)
  foreach(child IN LISTS L_CHILD_LAYERS)
    list(FILTER sources EXCLUDE REGEX "^${src}/${child}/")
  endforeach()
  set(target minivmm_${name})
  if(sources)
    add_library(${target} OBJECT ${sources})
    set(scope PUBLIC)
    set_property(TARGET ${target} PROPERTY POSITION_INDEPENDENT_CODE ON)
    target_link_libraries(${target} PRIVATE $<BUILD_INTERFACE:minivmm_options>)
    set_property(GLOBAL APPEND PROPERTY MINIVMM_LAYERS ${target})
    minivmm_unity_build(${target})
  else()
    add_library(${target} INTERFACE)
    set(scope INTERFACE)
  endif()
  # The public API's headers are visible to every layer; docs/architecture.md says which
  # of them a layer may use, and tests/layers/check_layers.py checks it.
  target_include_directories(${target} ${scope} $<BUILD_INTERFACE:${root}>
                             $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>)
  foreach(dep IN LISTS L_DEPS)
    target_link_libraries(${target} ${scope} minivmm_${dep})
  endforeach()
  target_link_libraries(${target} ${scope} fmt::fmt spdlog::spdlog ${L_LIBS})
  target_compile_features(${target} ${scope} cxx_std_20)
endfunction()
