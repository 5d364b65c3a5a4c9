// Remote SIM end to end with the real PC/SC stack and real processes:
//
//   cp-simcard --vpcd--> pcscd (Debian's, vsmartcard-vpcd driver) --PC/SC--> cellplaned [bankd,
//   backend pcsc] --RSPRO--> cellplaned [remsim_server] (slotmap made over REST) --> client
//
// The client is cp-remsim-shell (APDUs from a file, responses on stdout) or, where the test must
// hold a connection open across events, the blocking test client. The bank daemon and the server
// are two cellplaned processes, so each can be restarted alone:
//   - SELECT / READ BINARY / VERIFY / AUTHENTICATE through the chain, answered exactly as the same
//     card answers in-process, with AUTHENTICATE's RES checked against MILENAGE;
//   - the card removed (cp-simcard killed) and re-inserted (started again);
//   - the mapping deleted and re-created while connected;
//   - the bank daemon restarted; the server restarted (the slotmap persists).
// pcscd always uses /run/pcscd/pcscd.comm: this test holds the `pcscd` resource lock.
#include <gtest/gtest.h>

#include <regex>

#include "tests/services/remsim/remsim_harness.h"

namespace cp::remsim::test {
namespace {

namespace fs = std::filesystem;
using cp::test::Process;

// Below the ephemeral port range, so no test's outbound connection can hold it (pcsc_card_test
// uses another).
constexpr uint16_t kVpcdPort = 0x7C4B;  // 31819

std::string hex_u8(std::span<const uint8_t> b) {
  return hex(std::as_bytes(b));
}

class PcscRemsim : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists("/usr/sbin/pcscd") || !fs::exists("/usr/lib/pcsc/drivers/serial/libifdvpcd.so"))
      GTEST_FAIL() << "pcscd and vsmartcard-vpcd are needed: scripts/deps.sh installs them";
    fs::create_directories(dir_.path() / "reader.conf.d");
    fs::create_directories(dir_.path() / "server");
    fs::create_directories(dir_.path() / "bankd");
    std::ofstream(dir_.path() / "reader.conf.d" / "vpcd")
        << "FRIENDLYNAME \"cellplane remsim vpcd\"\n"
        << fmt::format("DEVICENAME /dev/null:0x{:04X}\n", kVpcdPort)
        << "LIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\n"
        << fmt::format("CHANNELID 0x{:04X}\n", kVpcdPort);
    card_ = simcard::simulated_contents(9, 0);
    std::ofstream(dir_.path() / "card.txt")
        << "iccid = " << card_.iccid << "\nimsi = " << card_.imsi << "\nki = " << hex_u8(card_.ki)
        << "\nopc = " << hex_u8(card_.opc) << "\n";
    if (cp::test::foreign_pcscd_running())
      GTEST_SKIP() << "a pcscd this test did not start serves /run/pcscd/pcscd.comm; left alone";
    pcscd_ = std::make_unique<Process>(
        std::vector<std::string>{"/usr/sbin/pcscd", "-f", "-c",
                                 (dir_.path() / "reader.conf.d").string()},
        dir_.path() / "pcscd.log");
    start_card();
    server_port_ = free_port();
    rest_port_ = free_port();
    bankd_port_ = free_port();
    // Bank 1: slot 0 is the vpcd reader's first slot (osmo-remsim's CSV).
    std::ofstream(dir_.path() / "bankd" / "bankd_pcsc_slots.csv")
        << "# bank, slot, reader name regex\n\"1\",\"0\",\"cellplane remsim vpcd.* 00$\"\n";
    start_server();
    start_bankd();
    ASSERT_TRUE(
        eventually([&] { return rest("/banks").find("\"bankId\":1") != std::string::npos; }, 15000))
        << logs();
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << logs();
  }

  void start_card() {
    card_proc_ = std::make_unique<Process>(
        std::vector<std::string>{CP_SIMCARD_PATH, "--card", (dir_.path() / "card.txt").string(),
                                 "--vpcd", fmt::format("127.0.0.1:{}", kVpcdPort)},
        dir_.path() / "card.log");
  }
  std::string common_config(const std::string& state) {
    return fmt::format(
        "state_dir = \"{}\"\n[engine]\ncores = 2\n[metrics]\nenabled = false\n"
        "[store]\nenabled = false\n[smsc]\nenabled = false\n[smpp]\nenabled = false\n",
        (dir_.path() / state).string());
  }
  void start_server() {
    const auto cfg = dir_.path() / "server.toml";
    std::ofstream(cfg) << common_config("server")
                       << fmt::format(
                              "[remsim_server]\nlisten = \"127.0.0.1:{}\"\n"
                              "rest_listen = \"127.0.0.1:{}\"\nbankd_port = {}\n"
                              "[bankd]\nenabled = false\n",
                              server_port_, rest_port_, bankd_port_);
    server_ = std::make_unique<Process>(
        std::vector<std::string>{CELLPLANED_PATH, "--config", cfg.string()},
        dir_.path() / "server.log");
  }
  void start_bankd() {
    const auto cfg = dir_.path() / "bankd.toml";
    std::ofstream(cfg) << common_config("bankd")
                       << fmt::format(
                              "[remsim_server]\nenabled = false\n[bankd]\n"
                              "server = \"127.0.0.1:{}\"\nlisten = \"127.0.0.1:{}\"\n"
                              "backend = \"pcsc\"\n",
                              server_port_, bankd_port_);
    bankd_ = std::make_unique<Process>(
        std::vector<std::string>{CELLPLANED_PATH, "--config", cfg.string()},
        dir_.path() / "bankd.log");
  }
  std::string rest(const std::string& path) {
    return test::rest(loopback(rest_port_), "GET", path).body;
  }
  std::string logs() {
    std::string out;
    for (auto n : {"pcscd.log", "card.log", "server.log", "bankd.log", "shell.log"}) {
      std::ifstream in(dir_.path() / n);
      std::stringstream ss;
      ss << in.rdbuf();
      out += fmt::format("---- {}\n{}", n, ss.str());
    }
    return out;
  }

  // The APDUs of run_card_session, as the card answers them in-process (fresh card, same
  // contents): what the chain must answer too.
  std::vector<std::string> script_and_expected(std::vector<std::string>& apdus) {
    simcard::Card local(card_);
    local.reset();
    std::vector<std::string> expected;
    run_card_session(
        [&](const std::vector<std::byte>& a) {
          apdus.push_back(hex(a));
          const auto* p = reinterpret_cast<const uint8_t*>(a.data());
          auto r = local.transmit({p, a.size()});
          expected.push_back(hex_u8(r));
          std::vector<std::byte> out(r.size());
          std::memcpy(out.data(), r.data(), r.size());
          return out;
        },
        card_, sqn_);
    return expected;
  }

  // Runs cp-remsim-shell as client 7:0 with the session's APDUs; its stdout lines.
  cp::test::Output shell(const std::vector<std::string>& apdus, double wait_s = 20) {
    const auto in = dir_.path() / "apdus.txt";
    std::ofstream f(in);
    f << "# the end-to-end session\n";
    for (const auto& a : apdus) f << a << "\n";
    f.close();
    return cp::test::run(
        {CP_REMSIM_SHELL_PATH, "--server", fmt::format("127.0.0.1:{}", server_port_), "-c", "7",
         "-s", "0", "--wait", fmt::format("{}", wait_s)},
        in.string());
  }

  void expect_session_through_shell() {
    std::vector<std::string> apdus;
    const auto expected = script_and_expected(apdus);
    const auto out = shell(apdus);
    ASSERT_EQ(out.status, 0) << out.text << logs();
    std::vector<std::string> lines;
    std::istringstream ss(out.text);
    for (std::string l; std::getline(ss, l);)
      if (!l.starts_with("ATR:")) lines.push_back(l);
    EXPECT_EQ(lines, expected) << out.text;
    EXPECT_NE(out.text.find("ATR: 3b"), std::string::npos) << out.text;
  }

  cp::test::TempDir dir_;
  simcard::Contents card_;
  uint8_t sqn_ = 32;
  uint16_t server_port_ = 0, rest_port_ = 0, bankd_port_ = 0;
  std::unique_ptr<Process> pcscd_, card_proc_, server_, bankd_;
};

TEST_F(PcscRemsim, ShellThroughTheWholeChainRemovalRestarts) {
  EXPECT_EQ(test::rest(loopback(rest_port_), "POST", "/slotmaps", map_body(1, 0, 7, 0)).status,
            201);
  EXPECT_TRUE(eventually([&] { return rest("/slotmaps").find("ACTIVE") != std::string::npos; }));
  expect_session_through_shell();

  // The card removed: no card for a client (it gives up after its wait), then re-inserted.
  card_proc_->kill();
  std::vector<std::string> one{"00a40004023f00"};
  const auto none = shell(one, 3);
  EXPECT_NE(none.status, 0) << none.text;
  start_card();
  sqn_ = 64;  // the restarted card starts from SQN 0 again; any fresh one works
  expect_session_through_shell();

  // The bank daemon restarted: the server re-sends the mapping, the client is served again.
  EXPECT_EQ(bankd_->terminate(), 0);
  EXPECT_TRUE(eventually([&] { return rest("/banks") == R"({"banks":[]})"; }));
  start_bankd();
  EXPECT_TRUE(
      eventually([&] { return rest("/slotmaps").find("ACTIVE") != std::string::npos; }, 15000));
  sqn_ = 96;
  expect_session_through_shell();

  // The server restarted: the slotmap comes back from its file.
  EXPECT_EQ(server_->terminate(), 0);
  start_server();
  EXPECT_TRUE(
      eventually([&] { return rest("/slotmaps").find("ACTIVE") != std::string::npos; }, 15000))
      << rest("/slotmaps");
  sqn_ = 128;
  expect_session_through_shell();
}

TEST_F(PcscRemsim, MappingDeletedAndRecreatedWhileConnected) {
  TestClient c({7, 0});
  ASSERT_EQ(c.register_with(loopback(server_port_)), rspro::ResultCode::ok);
  const auto made = test::rest(loopback(rest_port_), "POST", "/slotmaps", map_body(1, 0, 7, 0));
  EXPECT_EQ(made.status, 201) << made.body << rest("/banks") << rest("/slotmaps");
  auto cfg = c.next_config();
  ASSERT_TRUE(cfg && cfg->second);
  ASSERT_TRUE(c.connect_bank_retrying(*cfg->second));
  EXPECT_EQ(sw(c.apdu({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2})), 0x9000u);
  EXPECT_EQ(test::rest(loopback(rest_port_), "DELETE", "/slotmaps/65536").status, 200);
  EXPECT_TRUE(c.bank_closed());
  cfg = c.next_config();
  ASSERT_TRUE(cfg);
  EXPECT_FALSE(cfg->second);
  // The removal completes once the bank has acknowledged it; then the slot is free again.
  EXPECT_TRUE(eventually([&] { return rest("/slotmaps") == R"({"slotmaps":[]})"; }));
  EXPECT_EQ(test::rest(loopback(rest_port_), "POST", "/slotmaps", map_body(1, 0, 7, 0)).status,
            201);
  cfg = c.next_config();
  ASSERT_TRUE(cfg && cfg->second);
  ASSERT_TRUE(c.connect_bank_retrying(*cfg->second));
  run_card_session([&](const std::vector<std::byte>& a) { return c.apdu(a); }, card_);
}

// A reset the modem asks for while an APDU is at the card reaches the card after that APDU's
// answer and before the next one (issue 15: it was dropped, so the card's selection and PIN
// state outlived the modem's reset). PC/SC answers on a hardware thread: the reset below
// arrives while the SELECT is at the card.
TEST_F(PcscRemsim, AResetDuringAnApduReachesTheCardBeforeTheNextOne) {
  TestClient c({8, 0});
  ASSERT_EQ(c.register_with(loopback(server_port_)), rspro::ResultCode::ok);
  ASSERT_EQ(test::rest(loopback(rest_port_), "POST", "/slotmaps", map_body(1, 0, 8, 0)).status,
            201);
  auto cfg = c.next_config();
  ASSERT_TRUE(cfg && cfg->second);
  ASSERT_TRUE(c.connect_bank_retrying(*cfg->second));
  EXPECT_EQ(sw(c.apdu({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2})), 0x9000u);  // EF.ICCID
  EXPECT_EQ(sw(c.apdu({0x00, 0xB0, 0x00, 0x00, 0x0A})), 0x9000u);  // it is the current EF
  const auto tpdu = [&](std::vector<std::byte> data) {
    rspro::Pdu p;
    p.type = rspro::MsgType::tpdu_modem_to_card;
    p.client = {8, 0};
    p.bank = c.bank();
    p.data = data;
    ASSERT_TRUE(c.bank_link().send(p));
  };
  // SELECT, a cold reset (VCC falls), READ BINARY: sent back to back.
  tpdu(bytes({0x00, 0xA4, 0x00, 0x0C, 0x02, 0x2F, 0xE2}));
  rspro::Pdu ind;
  ind.type = rspro::MsgType::client_slot_status_ind;
  ind.client = {8, 0};
  ind.bank = c.bank();
  ind.status.vcc_present = false;
  ASSERT_TRUE(c.bank_link().send(ind));
  tpdu(bytes({0x00, 0xB0, 0x00, 0x00, 0x0A}));
  auto selected = TestClient::expect(c.bank_link(), rspro::MsgType::tpdu_card_to_modem);
  ASSERT_TRUE(selected);
  EXPECT_EQ(sw({selected->pdu.data.begin(), selected->pdu.data.end()}), 0x9000u);
  // After the reset the MF is current: no EF to read.
  auto read = TestClient::expect(c.bank_link(), rspro::MsgType::tpdu_card_to_modem);
  ASSERT_TRUE(read);
  EXPECT_EQ(sw({read->pdu.data.begin(), read->pdu.data.end()}), 0x6986u)
      << "the READ BINARY reached the card before the reset";
}

}  // namespace
}  // namespace cp::remsim::test
