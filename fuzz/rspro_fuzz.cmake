# RSPRO over IPA (proto/rspro/rspro.h, proto/ipa/ipa.h).
cp_fuzz(rspro_fuzz SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/rspro_fuzz.cc DEPS cp_proto
        CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/rspro_fuzz)
