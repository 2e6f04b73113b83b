use crate::support::{Device, PASSWORD, TestServer, email, files};

#[test]
fn register_login_logout_keep_the_token_in_a_private_file_only() {
    let server = TestServer::start();
    let device = Device::new(&server);
    let address = email("token");
    let out = device.ok(&[
        "account",
        "register",
        "--email",
        &address,
        "--password",
        PASSWORD,
    ]);
    assert!(out.contains(&address), "{out}");

    let token_file = device.file("token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(token.len() >= 16, "{token}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let config = std::fs::read_to_string(device.file("config.toml")).unwrap();
    assert!(
        config.contains(&address) && config.contains(&server.url),
        "{config}"
    );
    // The token is nowhere but its file: not in the config, not in the database or its WAL.
    device.add(&["--duration", "10"]);
    for path in files(device.path()) {
        if path != token_file {
            let bytes = std::fs::read(&path).unwrap();
            let found = bytes.windows(token.len()).any(|w| w == token.as_bytes());
            assert!(!found, "the token leaked into {}", path.display());
        }
    }

    // The same email cannot register twice.
    let other = Device::new(&server);
    let err = other.fails(&[
        "account",
        "register",
        "--email",
        &address,
        "--password",
        PASSWORD,
    ]);
    assert!(err.contains("email_taken"), "{err}");
    // A wrong password is refused; the right one logs the second device in.
    let err = other.fails(&[
        "account",
        "login",
        "--email",
        &address,
        "--password",
        "wrong password",
    ]);
    assert!(err.contains("unauthorized"), "{err}");
    other.login(&address);
    assert_ne!(std::fs::read_to_string(other.file("token")).unwrap(), token);

    let out = device.ok(&["account", "logout"]);
    assert!(out.contains("logged out"), "{out}");
    assert!(!token_file.exists());
    assert!(device.ok(&["account", "logout"]).contains("not logged in"));
    let err = device.fails(&["sync"]);
    assert!(err.contains("account login"), "{err}");
    let status = device.json(&["status", "--json"]);
    assert_eq!(
        (status["account"].as_str(), status["loggedIn"].as_bool()),
        (Some(address.as_str()), Some(false))
    );

    // This device holds the account's entries: it cannot switch to another account...
    let stranger = crate::support::email("stranger");
    other.ok(&["account", "logout"]);
    Device::new(&server).register(&stranger);
    let err = device.fails(&[
        "account",
        "login",
        "--email",
        &stranger,
        "--password",
        PASSWORD,
    ]);
    assert!(err.contains("use another --data-dir"), "{err}");
    // ...but signs in again to its own, and an empty device may switch.
    device.login(&address);
    other.login(&stranger);
}

#[test]
fn the_password_can_come_from_stdin_and_the_server_is_remembered() {
    use std::io::Write as _;

    let server = TestServer::start();
    let device = Device::new(&server);
    let address = email("stdin");
    let mut child = device
        .command(&[
            "account",
            "register",
            "--email",
            &address,
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Later commands find the server in the config without LEGATO_SERVER.
    let status = device
        .command(&["status", "--json"])
        .env_remove("LEGATO_SERVER")
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["server"], server.url.as_str());
    assert_eq!(status["connection"], "online");
    assert_eq!(status["loggedIn"], true);
}

#[test]
fn without_a_keyring_service_the_token_falls_back_to_a_file_and_says_so_once() {
    let server = TestServer::start();
    let device = Device::new(&server);
    let address = email("fallback");
    let login = |verb: &str| {
        device
            .command(&["account", verb, "--email", &address, "--password", PASSWORD])
            .env("LEGATO_KEYRING", "auto")
            // No D-Bus session: no Secret Service to talk to.
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent/legato-test-bus",
            )
            .output()
            .unwrap()
    };
    let first = login("register");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let notice = String::from_utf8(first.stderr).unwrap();
    if !device.file("token").exists() {
        // A keyring service was reachable after all (a desktop session): nothing to check.
        return;
    }
    assert!(notice.contains("no OS keyring"), "{notice}");
    let second = login("login");
    assert!(second.status.success());
    assert!(
        !String::from_utf8(second.stderr)
            .unwrap()
            .contains("no OS keyring")
    );
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    let device = Device::offline();
    let err = device.fails(&[
        "account",
        "login",
        "--email",
        "a@example.com",
        "--password",
        "x",
    ]);
    assert!(err.contains("cannot reach the server"), "{err}");
}

/// A plain `http://` server that is not this machine is warned about on stderr, once per
/// command that talks to it; loopback and `https://` servers are not.
#[test]
fn a_plain_http_remote_server_is_warned_about_once_per_command() {
    let warnings = |stderr: &[u8]| {
        String::from_utf8_lossy(stderr)
            .matches("uses plain http://")
            .count()
    };
    // TEST-NET-1: not loopback, and nothing answers there (status reports offline).
    let remote = Device::with_server("http://192.0.2.1:9".into());
    let status = remote.output(&["status"]);
    assert!(status.status.success());
    assert_eq!(warnings(&status.stderr), 1, "{status:?}");
    let stderr = String::from_utf8_lossy(&status.stderr).into_owned();
    assert!(
        stderr.contains("http://192.0.2.1:9 is not on this machine"),
        "{stderr}"
    );
    let login = remote.output(&[
        "account",
        "login",
        "--email",
        &email("insecure"),
        "--password",
        PASSWORD,
    ]);
    assert!(!login.status.success());
    assert_eq!(warnings(&login.stderr), 1, "{login:?}");
    // Offline commands do not talk to the server: no warning.
    let add = remote.output(&["log", "add", "--duration", "5"]);
    assert!(add.status.success());
    assert_eq!(warnings(&add.stderr), 0);

    for quiet in [
        Device::offline(),
        Device::with_server("http://localhost:9".into()),
        Device::with_server("https://192.0.2.1:9".into()),
    ] {
        let status = quiet.output(&["status"]);
        assert!(status.status.success());
        assert_eq!(warnings(&status.stderr), 0, "{status:?}");
    }
}

/// `legato devices list|revoke` and `legato account password`: a device sees the account's
/// devices, signs another one out (its next sync is refused), and a password change signs
/// every other device out while this one syncs on.
#[test]
fn devices_are_listed_and_signed_out_and_a_password_change_signs_out_the_rest() {
    let server = TestServer::start();
    let address = crate::support::email("devices");
    let laptop = Device::new(&server);
    laptop.register(&address);
    let login = |device: &Device| {
        device.login(&address);
    };
    let (phone, tablet) = (Device::new(&server), Device::new(&server));
    login(&phone);
    login(&tablet);
    phone.ok(&["sync"]);

    let list = laptop.json(&["devices", "list", "--json"]);
    let devices = list["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 3);
    assert_eq!(
        devices
            .iter()
            .map(|d| d["current"].as_bool().unwrap())
            .collect::<Vec<_>>(),
        [true, false, false]
    );
    let phone_id = devices[1]["id"].as_str().unwrap().to_owned();
    let text = laptop.ok(&["devices", "list"]);
    assert!(
        text.contains(&format!("* {}", devices[0]["id"].as_str().unwrap())),
        "{text}"
    );
    assert!(text.contains(&phone_id), "{text}");

    // This device is not signed out through the list (logout is the way): refused, and it
    // syncs on.
    let this_id = devices[0]["id"].as_str().unwrap().to_owned();
    let err = laptop.fails(&["devices", "revoke", &this_id]);
    assert!(err.contains("is this device"), "{err}");
    laptop.ok(&["sync"]);

    let out = laptop.ok(&["devices", "revoke", &phone_id]);
    assert!(out.contains("signed out"), "{out}");
    let err = phone.fails(&["sync"]);
    assert!(err.contains("refused this device's login"), "{err}");
    let err = laptop.fails(&["devices", "revoke", &phone_id]);
    assert!(err.contains("no signed-in device"), "{err}");

    let err = laptop.fails(&[
        "account",
        "password",
        "--password",
        "wrong password",
        "--new-password",
        "a brand new password",
    ]);
    assert!(err.contains("unauthorized"), "{err}");
    let out = laptop.ok(&[
        "account",
        "password",
        "--password",
        PASSWORD,
        "--new-password",
        "a brand new password",
    ]);
    assert!(out.contains("password changed"), "{out}");
    let err = tablet.fails(&["sync"]);
    assert!(err.contains("refused this device's login"), "{err}");
    laptop.ok(&["sync"]);
    assert_eq!(
        laptop.json(&["devices", "list", "--json"])["devices"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    tablet.ok(&[
        "account",
        "login",
        "--email",
        &address,
        "--password",
        "a brand new password",
    ]);
    tablet.ok(&["sync"]);
}
