# Installs headers, library, CLI, a CMake package (find_package(vecaccel)) and a pkg-config file.
include(CMakePackageConfigHelpers)

install(TARGETS vecaccel EXPORT vecaccelTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# vecaccel/mpi.hpp only with the library that implements it.
if(TARGET vecaccel_mpi)
  install(DIRECTORY include/vecaccel DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
else()
  install(DIRECTORY include/vecaccel DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} PATTERN mpi.hpp EXCLUDE)
endif()
install(EXPORT vecaccelTargets NAMESPACE vecaccel:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vecaccel)
# vecaccel::mpi in an export set of its own: the config loads it (and finds MPI) only for a
# consumer that asks for the component, so one without MPI installed still finds vecaccel.
if(TARGET vecaccel_mpi)
  install(TARGETS vecaccel_mpi EXPORT vecaccelMpiTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(EXPORT vecaccelMpiTargets NAMESPACE vecaccel::
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vecaccel)
endif()

configure_package_config_file(cmake/vecaccelConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/vecaccelConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vecaccel)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/vecaccelConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/vecaccelConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/vecaccelConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vecaccel)

# The .pc file finds the prefix relative to itself (from <libdir>/pkgconfig back up).
file(RELATIVE_PATH VECACCEL_PC_PREFIX "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig" "${CMAKE_INSTALL_PREFIX}")
set(VECACCEL_PC_HDF5 "")
if(VECACCEL_WITH_HDF5)
  foreach(library IN LISTS HDF5_LINK_LIBRARIES)
    string(APPEND VECACCEL_PC_HDF5 " ${library}")
  endforeach()
endif()
configure_file(cmake/vecaccel.pc.in ${CMAKE_CURRENT_BINARY_DIR}/vecaccel.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/vecaccel.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
