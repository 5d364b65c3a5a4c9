# The SMPP server's session state machine, with the SMSC core and store behind it, on the
# simulation transport (services/smpp/server*.cc).
cp_fuzz(smpp_session_fuzz SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/smpp_session_fuzz.cc
        DEPS cp_smpp cp_smsc cp_storage cp_engine cp_proto cp_sim
        CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/smpp_session_fuzz)
