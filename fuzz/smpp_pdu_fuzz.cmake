# The SMPP 3.4 PDU decoder (proto/smpp/pdu.h).
cp_fuzz(smpp_pdu_fuzz SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/smpp_pdu_fuzz.cc DEPS cp_proto
        CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/smpp_pdu_fuzz)
