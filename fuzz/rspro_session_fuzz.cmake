# The remote-SIM session state machines: the remsim server and the bank daemon (simulated cards)
# on the simulation transport (services/remsim).
cp_fuzz(rspro_session_fuzz SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/rspro_session_fuzz.cc
        DEPS cp_remsim cp_simcard cp_sim cp_engine
        CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/rspro_session_fuzz)
