# The configuration loader over the daemon's whole schema: load_config_string and the to_toml
# round trip (ctl/config.h, daemon/services.h).
cp_fuzz(config_fuzz SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/config_fuzz.cc DEPS cp_daemon
        CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/config_fuzz)
