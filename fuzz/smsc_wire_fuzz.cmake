# The SMSC core's local socket message decoder and admission (services/smsc/wire.h, admission.h).
cp_fuzz(smsc_wire_fuzz SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/smsc_wire_fuzz.cc DEPS cp_smsc
        CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/smsc_wire_fuzz)
