//! Hot-plug through PC/SC: a private pcscd (own mount namespace, vpcd on port 36140) with the
//! emulator attached as a card. Insert/remove drive C_WaitForSlotEvent, sessions of a removed
//! token are closed, and a reinserted token works again.
//!
//! Needs root, `pcscd`, `vsmartcard-vpcd`, `unshare`, and the emulator binary
//! (`cargo build -p epass2003-emu`). Ignored by default; run it with `EPASS2003_TEST_PCSC=1 cargo test
//! --release -p pkcs11 --test pcsc_hotplug -- --ignored` (it fails without the variable).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PORT: u16 = 36140;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn emu_bin() -> PathBuf {
    std::env::var_os("EPASS2003_EMU_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().unwrap();
            exe.parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("epass2003-emu")
        })
}

fn attach(state: &Path) -> Kill {
    Kill(
        Command::new(emu_bin())
            .args(["attach", "--state"])
            .arg(state)
            .args(["--vpcd", &format!("127.0.0.1:{PORT}"), "--wait", "10"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs root, pcscd, vpcd and unshare: ci/test runs it with EPASS2003_TEST_PCSC=1"]
fn pcsc_insert_remove() {
    if std::env::var("EPASS2003_TEST_PCSC").as_deref() != Ok("1") {
        panic!("set EPASS2003_TEST_PCSC=1 to run this test (needs root, pcscd, vpcd, unshare)");
    }
    assert!(
        emu_bin().exists(),
        "build the emulator first: cargo build -p epass2003-emu"
    );
    let dir = tempdir();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(
        conf.join("vpcd"),
        format!("FRIENDLYNAME \"Virtual PCD P11\"\nDEVICENAME /dev/null:{PORT}\nLIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID {PORT}\n"),
    )
    .unwrap();
    let pcscd = Kill(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs tmpfs /run/pcscd && exec pcscd -f -c {}",
                conf.display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let sock = PathBuf::from(format!("/proc/{}/root/run/pcscd/pcscd.comm", pcscd.0.id()));
    wait_until("pcscd socket", || sock.exists());
    std::env::set_var("PCSCLITE_CSOCK_NAME", &sock);
    // The socket appears before pcscd has registered the vpcd readers, and the module
    // enumerates readers at C_Initialize: wait until pcscd lists them.
    wait_until("vpcd readers listed by pcscd", || {
        Command::new("opensc-tool")
            .arg("-l")
            .env("PCSCLITE_CSOCK_NAME", &sock)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("Virtual PCD P11"))
            .unwrap_or(false)
    });
    std::env::remove_var("EPASS2003_EMULATOR");
    std::env::set_var("EPASS2003_PCSC", "1");
    std::env::set_var("EPASS2003_CONF", "/nonexistent");

    let state = dir.path().join("card.state");
    let st = Command::new(emu_bin())
        .args(["new", "--state"])
        .arg(&state)
        .status()
        .unwrap();
    assert!(st.success());
    let card = attach(&state);

    let ctx = Pkcs11::new(lib_path()).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    assert_eq!(ctx.get_all_slots().unwrap().len(), 2, "two vpcd readers");
    wait_until("card present", || {
        !ctx.get_slots_with_token().unwrap().is_empty()
    });
    let slot = ctx.get_slots_with_token().unwrap()[0];
    assert!(ctx
        .get_slot_info(slot)
        .unwrap()
        .slot_description()
        .contains("Virtual PCD P11"));
    personalise(&ctx, slot);
    let s = user_session(&ctx, slot);
    let (_, key) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::EcParams(vec![
                    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
                ]),
                Attribute::Token(true),
            ],
            &[Attribute::Token(true), Attribute::Sign(true)],
        )
        .unwrap();
    s.sign(&Mechanism::EcdsaSha256, key, b"before").unwrap();
    // The insertion after C_Initialize was an event; once read, there is none (CKF_DONT_BLOCK).
    while ctx.get_slot_event().unwrap().is_some() {}
    assert!(ctx.get_slot_event().unwrap().is_none());

    // Remove: a blocking wait reports the slot; the session is gone.
    drop(card);
    let ev = ctx.wait_for_slot_event().unwrap();
    assert_eq!(ev, slot);
    let r = rv(s.sign(&Mechanism::EcdsaSha256, key, b"after"));
    assert!(
        matches!(r, RvError::SessionHandleInvalid | RvError::DeviceRemoved),
        "{r:?}"
    );
    assert_eq!(rv(ctx.get_token_info(slot)), RvError::TokenNotPresent);
    assert_eq!(rv(ctx.open_ro_session(slot)), RvError::TokenNotPresent);
    std::mem::forget(s);

    // Reinsert: event again, and the token works with a new login.
    let _card = attach(&state);
    assert_eq!(ctx.wait_for_slot_event().unwrap(), slot);
    wait_until("token usable", || ctx.get_token_info(slot).is_ok());
    let s = user_session(&ctx, slot);
    let keys = s.find_objects(&[Attribute::Sign(true)]).unwrap();
    assert_eq!(keys.len(), 1);
    s.sign(&Mechanism::EcdsaSha256, keys[0], b"again").unwrap();
    drop(s);
    ctx.finalize().unwrap();
    drop(pcscd);
}
