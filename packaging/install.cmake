# What `cmake --install` installs, and so what the Debian package ships: the binary, the
# default configuration (a conffile in the package), and the dashboards and rules. The
# systemd unit (systemd/) is installed by the package's dh_installsystemd.
include(GNUInstallDirs)
install(TARGETS tcpconnect_exporter RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The daemon's private OpenSSL shims for civetweb (daemon/CMakeLists.txt), on its RUNPATH.
install(TARGETS civetweb_libssl_shim civetweb_libcrypto_shim
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/tcpconnect-exporter)
install(FILES ${PROJECT_SOURCE_DIR}/config/tcpconnect_exporter.yaml
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/tcpconnect_exporter
        RENAME config.yaml)
if(EXISTS ${PROJECT_SOURCE_DIR}/dashboards)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/dashboards/
          DESTINATION ${CMAKE_INSTALL_DATADIR}/tcpconnect-exporter
          FILES_MATCHING PATTERN "*.json" PATTERN "*.yaml"
          PATTERN "tests" EXCLUDE)
endif()
