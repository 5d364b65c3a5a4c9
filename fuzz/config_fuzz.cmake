# The configuration loader: load_config_string and the to_toml round trip (ctl/config.h).
cp_fuzz(config_fuzz SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/config_fuzz.cc DEPS cp_ctl
        CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/config_fuzz)
