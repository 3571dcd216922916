# Installing libminivmm as a CMake package: `cmake --install` puts the public headers, the
# static library, the minivmm command and minivmmConfig.cmake (imported target
# minivmm::minivmm) under the prefix, so that find_package(minivmm) works from any project.
#
# libminivmm is static, so its private dependencies must be found again by whoever links it:
# the config file does that with find_dependency (fmt, spdlog, Threads) and pkg-config for
# the modules that minivmm_link_pkg_config() linked.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(MINIVMM_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/minivmm)
set_property(GLOBAL PROPERTY MINIVMM_PKG_CONFIG_MODULES "")

# minivmm_link_pkg_config(TARGET PREFIX MODULE...): links TARGET privately against the
# pkg-config MODULEs (imported target PkgConfig::PREFIX) and records them, so that the
# installed package config looks them up again the same way.
function(minivmm_link_pkg_config target prefix)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(${prefix} REQUIRED IMPORTED_TARGET ${ARGN})
  target_link_libraries(${target} PRIVATE PkgConfig::${prefix})
  # One list item per call: PREFIX=MODULE,MODULE (a ';' would split it into several items).
  list(JOIN ARGN "," modules)
  set_property(GLOBAL APPEND PROPERTY MINIVMM_PKG_CONFIG_MODULES "${prefix}=${modules}")
endfunction()

# minivmm_install_package(LIBRARY PROGRAM): the install rules, called once every link
# dependency of LIBRARY is known.
function(minivmm_install_package library program)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/minivmm DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(TARGETS ${library} EXPORT minivmmTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(TARGETS ${program} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(EXPORT minivmmTargets NAMESPACE minivmm:: DESTINATION ${MINIVMM_CMAKE_INSTALL_DIR})

  # One pkg_check_modules() line per recorded module set, for the config file.
  get_property(modules GLOBAL PROPERTY MINIVMM_PKG_CONFIG_MODULES)
  set(MINIVMM_FIND_PKG_CONFIG_MODULES "")
  if(modules)
    string(APPEND MINIVMM_FIND_PKG_CONFIG_MODULES "find_dependency(PkgConfig)\n")
    foreach(entry IN LISTS modules)
      string(REPLACE "=" ";" parts "${entry}")
      string(REPLACE "," ";" parts "${parts}")
      list(POP_FRONT parts prefix)
      list(JOIN parts " " names)
      string(APPEND MINIVMM_FIND_PKG_CONFIG_MODULES
             "pkg_check_modules(${prefix} REQUIRED QUIET IMPORTED_TARGET ${names})\n")
    endforeach()
  endif()
  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/minivmmConfig.cmake.in
    ${PROJECT_BINARY_DIR}/minivmmConfig.cmake INSTALL_DESTINATION ${MINIVMM_CMAKE_INSTALL_DIR})
  # 0.x: a minor release may change the API.
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/minivmmConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
  install(FILES ${PROJECT_BINARY_DIR}/minivmmConfig.cmake ${PROJECT_BINARY_DIR}/minivmmConfigVersion.cmake
    DESTINATION ${MINIVMM_CMAKE_INSTALL_DIR})
endfunction()
