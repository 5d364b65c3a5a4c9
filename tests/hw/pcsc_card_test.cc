// The simulated card behind the real PC/SC stack: Debian's pcscd with the vsmartcard vpcd reader
// driver (our own reader.conf.d, our own port), cp-simcard connected to it, and pcsclite's
// client API doing what a bank daemon does — connect T=0, read the ATR, SELECT and READ BINARY
// EF.ICCID, SELECT with GET RESPONSE, VERIFY. Removal and re-insertion (cp-simcard killed and
// started again) are tested through the bank daemon in tests/services/remsim/pcsc_remsim_test.cc;
// what made them flaky was cp-simcard resetting the card whenever vpcd asked for the ATR, which
// pcscd does on its own presence checks (fixed: the ATR is answered without a reset).
// pcscd always uses /run/pcscd/pcscd.comm: this test holds the `pcscd` resource lock.
#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.h"

namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> transmit(SCARDHANDLE h, std::vector<uint8_t> apdu) {
  uint8_t buf[300];
  DWORD len = sizeof buf;
  const LONG rv = SCardTransmit(h, SCARD_PCI_T0, apdu.data(), apdu.size(), nullptr, buf, &len);
  EXPECT_EQ(rv, SCARD_S_SUCCESS) << pcsc_stringify_error(rv);
  return rv == SCARD_S_SUCCESS ? std::vector<uint8_t>(buf, buf + len) : std::vector<uint8_t>{};
}

class PcscCard : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists("/usr/sbin/pcscd") || !fs::exists("/usr/lib/pcsc/drivers/serial/libifdvpcd.so"))
      GTEST_FAIL() << "pcscd and vsmartcard-vpcd are needed: scripts/deps.sh installs them";
    dir_ = fs::temp_directory_path() / ("cp-pcsc-" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "reader.conf.d");
    std::ofstream(dir_ / "reader.conf.d" / "vpcd")
        << "FRIENDLYNAME \"cellplane vpcd\"\nDEVICENAME /dev/null:0x7C3B\n"
        << "LIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID 0x7C3B\n";
    std::ofstream(dir_ / "card.txt") << "iccid = 8988211000000000017\nimsi = 001010000000017\n"
                                     << "ki = 465b5ce8b199b49faa5f0a2ee238a6bc\n"
                                     << "opc = cd63cb71954a9f4e48a5994e37a02baf\n";
    if (cp::test::foreign_pcscd_running())
      GTEST_SKIP() << "a pcscd this test did not start serves /run/pcscd/pcscd.comm; left alone";
    pcscd_ = std::make_unique<cp::test::Process>(
        std::vector<std::string>{"/usr/sbin/pcscd", "-f", "-c", (dir_ / "reader.conf.d").string()},
        dir_ / "pcscd.log");
    start_card();
  }
  void TearDown() override {
    card_.reset();
    pcscd_.reset();
    fs::remove_all(dir_);
  }
  void start_card() {
    card_ = std::make_unique<cp::test::Process>(
        std::vector<std::string>{CP_SIMCARD_PATH, "--card", (dir_ / "card.txt").string(), "--vpcd",
                                 "127.0.0.1:31803"},
        dir_ / "card.log");
  }
  std::string logs() {
    std::stringstream ss;
    for (auto n : {"pcscd.log", "card.log"}) ss << std::ifstream(dir_ / n).rdbuf();
    return ss.str();
  }
  // Waits for a card in the reader and connects to it (T=0).
  SCARDHANDLE connect(SCARDCONTEXT ctx) {
    for (int i = 0; i < 100; ++i) {
      char readers[512];
      DWORD len = sizeof readers;
      if (SCardListReaders(ctx, nullptr, readers, &len) == SCARD_S_SUCCESS) {
        SCARDHANDLE h;
        DWORD proto;
        if (SCardConnect(ctx, readers, SCARD_SHARE_EXCLUSIVE, SCARD_PROTOCOL_T0, &h, &proto) ==
            SCARD_S_SUCCESS) {
          EXPECT_EQ(proto, static_cast<DWORD>(SCARD_PROTOCOL_T0));
          return h;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "no card in the vpcd reader\n" << logs();
    return 0;
  }

  fs::path dir_;
  std::unique_ptr<cp::test::Process> pcscd_, card_;
};

TEST_F(PcscCard, ApdusThroughPcscd) {
  SCARDCONTEXT ctx;
  LONG rv = SCARD_E_NO_SERVICE;
  for (int i = 0; i < 50 && rv != SCARD_S_SUCCESS; ++i) {
    rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &ctx);
    if (rv != SCARD_S_SUCCESS) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(rv, SCARD_S_SUCCESS) << pcsc_stringify_error(rv) << logs();
  SCARDHANDLE h = connect(ctx);
  ASSERT_NE(h, 0u);
  uint8_t atr[64];
  DWORD atr_len = sizeof atr, state, proto;
  char name[128];
  DWORD name_len = sizeof name;
  ASSERT_EQ(SCardStatus(h, name, &name_len, &state, &proto, atr, &atr_len), SCARD_S_SUCCESS);
  EXPECT_EQ(atr[0], 0x3B);
  // SELECT EF.ICCID (no FCP), READ BINARY: pcscd's T=0 handling fetches nothing extra.
  auto r = transmit(h, {0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2});
  ASSERT_EQ(r, (std::vector<uint8_t>{0x90, 0x00}));
  r = transmit(h, {0x00, 0xB0, 0x00, 0x00, 0x0A});
  ASSERT_EQ(r.size(), 12u);
  EXPECT_EQ(r[0], 0x98);
  EXPECT_EQ(r[10], 0x90);
  // SELECT with FCP: 61xx, then GET RESPONSE, as a T=0 terminal does it.
  r = transmit(h, {0x00, 0xA4, 0x00, 0x04, 0x02, 0x3F, 0x00});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], 0x61);
  r = transmit(h, {0x00, 0xC0, 0x00, 0x00, r[1]});
  EXPECT_EQ(r[0], 0x62);
  r = transmit(h, {0x00, 0x20, 0x00, 0x01, 0x08, '1', '2', '3', '4', 0xFF, 0xFF, 0xFF, 0xFF});
  EXPECT_EQ(r, (std::vector<uint8_t>{0x90, 0x00}));
  SCardDisconnect(h, SCARD_LEAVE_CARD);
  SCardReleaseContext(ctx);
}

}  // namespace
