# The number database parser and admission routing (services/smsc/).
cp_fuzz(numdb_fuzz SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/numdb_fuzz.cc DEPS cp_smsc
        CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/numdb_fuzz)
