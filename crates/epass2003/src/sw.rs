//! Status words and instruction bytes as open enums (§5.0, §7; conventions §4 item 6).

use std::fmt;

macro_rules! open_sw {
    ($($name:ident = $val:expr, $doc:expr;)*) => {
        /// A status word (SW1 SW2). Known values have names, `63Cx` is structured as
        /// [`StatusWord::VerifyFail`], `61xx` as [`StatusWord::BytesRemaining`], and everything else
        /// is kept as [`StatusWord::Other`]. `from_u16(x).to_u16() == x` for every `x`.
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub enum StatusWord {
            $(#[doc = $doc] $name,)*
            /// `63Cx`: verification failed, `tries` attempts left.
            VerifyFail {
                /// Remaining tries (low nibble of SW2).
                tries: u8,
            },
            /// `61xx`: more bytes available (never sent by FTCOS, §7).
            BytesRemaining {
                /// SW2 (0 means 256).
                len: u8,
            },
            /// Any other value.
            Other(u16),
        }

        impl StatusWord {
            /// Decode a raw status word.
            pub fn from_u16(raw: u16) -> Self {
                match raw {
                    $($val => StatusWord::$name,)*
                    0x63C0..=0x63CF => StatusWord::VerifyFail { tries: (raw & 0x0F) as u8 },
                    0x6100..=0x61FF => StatusWord::BytesRemaining { len: (raw & 0xFF) as u8 },
                    other => StatusWord::Other(other),
                }
            }
            /// Encode back to the raw value.
            pub fn to_u16(self) -> u16 {
                match self {
                    $(StatusWord::$name => $val,)*
                    StatusWord::VerifyFail { tries } => 0x63C0 | u16::from(tries & 0x0F),
                    StatusWord::BytesRemaining { len } => 0x6100 | u16::from(len),
                    StatusWord::Other(v) => v,
                }
            }
            /// The symbolic name, if any.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $(StatusWord::$name => Some(stringify!($name)),)*
                    StatusWord::VerifyFail { .. } => Some("VerifyFail"),
                    StatusWord::BytesRemaining { .. } => Some("BytesRemaining"),
                    StatusWord::Other(_) => None,
                }
            }
        }
    };
}

open_sw! {
    Success = 0x9000, "`9000` success";
    NoInformation = 0x6200, "`6200` no information, NVM unchanged";
    DataCorrupted = 0x6281, "`6281` part of data corrupted";
    EndOfFile = 0x6282, "`6282` end of file/record before Le";
    AuthFailed = 0x6300, "`6300` authentication failed";
    FileFilled = 0x6381, "`6381` file filled up";
    MemoryFailure = 0x6581, "`6581` memory failure";
    WrongLength = 0x6700, "`6700` wrong length";
    ClaFunctionNotSupported = 0x6800, "`6800` CLA function not supported";
    SmNotSupported = 0x6882, "`6882` SM not supported";
    CommandNotAllowed = 0x6900, "`6900` command not allowed";
    IncompatibleFileStructure = 0x6981, "`6981` incompatible with file structure";
    SecurityStatusNotSatisfied = 0x6982, "`6982` security status not satisfied";
    AuthMethodBlocked = 0x6983, "`6983` authentication method blocked";
    RefDataNotUsable = 0x6984, "`6984` referenced data not usable";
    ConditionsNotSatisfied = 0x6985, "`6985` conditions of use not satisfied (SM session lost, §3.6)";
    NoCurrentEf = 0x6986, "`6986` no current EF";
    SmDataMissing = 0x6987, "`6987` expected SM data objects missing";
    SmDataIncorrect = 0x6988, "`6988` SM data objects incorrect (SM session lost, §3.6)";
    WrongData = 0x6A80, "`6A80` incorrect data";
    FunctionNotSupported = 0x6A81, "`6A81` function not supported";
    FileNotFound = 0x6A82, "`6A82` file not found";
    RecordNotFound = 0x6A83, "`6A83` record not found";
    NotEnoughMemory = 0x6A84, "`6A84` not enough memory";
    IncorrectP1P2 = 0x6A86, "`6A86` incorrect P1/P2";
    RefDataNotFound = 0x6A88, "`6A88` referenced data not found";
    FileExists = 0x6A89, "`6A89` file already exists";
    DfNameExists = 0x6A8A, "`6A8A` DF name already exists";
    WrongP1P2 = 0x6B00, "`6B00` wrong parameters / offset outside the file";
    InsNotSupported = 0x6D00, "`6D00` INS not supported";
    ClaNotSupported = 0x6E00, "`6E00` CLA not supported";
    NoDiagnosis = 0x6F00, "`6F00` no precise diagnosis";
    Unknown6F83 = 0x6F83, "`6F83` returned by new FIPS tokens for RSA-2048 signing (cause unknown)";
}

impl StatusWord {
    /// Build from SW1, SW2.
    pub fn from_bytes(sw1: u8, sw2: u8) -> Self {
        Self::from_u16(u16::from_be_bytes([sw1, sw2]))
    }
    /// SW1, SW2.
    pub fn to_bytes(self) -> [u8; 2] {
        self.to_u16().to_be_bytes()
    }
    /// True for `9000`.
    pub fn is_success(self) -> bool {
        self == StatusWord::Success
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}({:04X})", self.to_u16()),
            None => write!(f, "SW({:04X})", self.to_u16()),
        }
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

macro_rules! open_ins {
    ($($name:ident = $val:expr, $sensitive:expr, $doc:expr;)*) => {
        /// Instruction byte (§5.0) as an open enum; unknown values are kept in [`Ins::Other`].
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum Ins {
            $(#[doc = $doc] $name,)*
            /// Any other INS byte.
            Other(u8),
        }
        impl Ins {
            /// Decode.
            pub fn from_u8(v: u8) -> Self {
                match v { $($val => Ins::$name,)* o => Ins::Other(o) }
            }
            /// Encode.
            pub fn to_u8(self) -> u8 {
                match self { $(Ins::$name => $val,)* Ins::Other(o) => o }
            }
            /// True for commands whose data carries PINs or keys: their data is never logged
            /// (INSTALL/UPDATE SECRET KEY, EXTERNAL AUTHENTICATE, VERIFY, 80 E7, INITIALIZE UPDATE).
            pub fn is_sensitive(self) -> bool {
                match self { $(Ins::$name => $sensitive,)* Ins::Other(_) => true }
            }
        }
    };
}

open_ins! {
    Verify = 0x20, true, "`20` VERIFY (magic PIN, §5.13)";
    ManageSecurityEnv = 0x22, false, "`22` MANAGE SECURITY ENVIRONMENT (§5.17)";
    PerformSecurityOp = 0x2A, false, "`2A` PERFORM SECURITY OPERATION (§5.18, §5.19)";
    ListFiles = 0x34, false, "`34` LIST FILES (§5.6)";
    GenerateKeyPair = 0x46, false, "`46` GENERATE KEY PAIR (§5.14)";
    InitializeUpdate = 0x50, true, "`50` INITIALIZE UPDATE (§3.3.1)";
    ExternalAuthenticate = 0x82, true, "`82` EXTERNAL AUTHENTICATE (§3.3.5, §5.12)";
    GetChallenge = 0x84, false, "`84` GET CHALLENGE (§5.8)";
    SelectFile = 0xA4, false, "`A4` SELECT FILE (§5.1)";
    ReadBinary = 0xB0, false, "`B0` READ BINARY (§5.2)";
    ReadRecord = 0xB2, false, "`B2` READ RECORD (§5.3)";
    ReadPublicKey = 0xB4, false, "`B4` READ PUBLIC KEY (§5.15)";
    GetData = 0xCA, false, "`CA` GET DATA (§5.7)";
    UpdateBinary = 0xD6, false, "`D6` UPDATE BINARY (§5.2)";
    UpdateRecord = 0xDC, false, "`DC` UPDATE RECORD (§5.3)";
    CreateFile = 0xE0, false, "`E0` CREATE FILE (§5.4)";
    AppendRecord = 0xE2, false, "`E2` APPEND RECORD (§5.3)";
    InstallSecretKey = 0xE3, true, "`E3` INSTALL SECRET KEY (§5.10)";
    DeleteFile = 0xE4, false, "`E4` DELETE FILE (§5.5)";
    UpdateSecretKey = 0xE5, true, "`E5` UPDATE SECRET KEY (§5.11)";
    WriteKeyComponent = 0xE7, true, "`E7` WRITE RSA KEY COMPONENT (§5.16)";
}

impl Ins {
    /// Whether a command's data may appear in a trace: only commands whose data can never be
    /// secret (file ids, FCPs, security-environment references, key-generation parameters).
    /// Everything else — PINs and PIN keys, key components, data written to files (private
    /// data objects), the input of a security operation — is logged by length only.
    pub fn may_log_command_data(self) -> bool {
        matches!(
            self,
            Ins::SelectFile
                | Ins::GetData
                | Ins::ListFiles
                | Ins::ManageSecurityEnv
                | Ins::GenerateKeyPair
                | Ins::ReadPublicKey
                | Ins::ReadBinary
                | Ins::ReadRecord
                | Ins::CreateFile
                | Ins::DeleteFile
        )
    }

    /// Whether a response's data may appear in a trace: FCIs, capability and serial data, file
    /// lists, public keys. Never the result of a security operation (a decryption's plaintext,
    /// e.g. a TLS premaster secret), file contents (private data objects), challenges or card
    /// cryptograms.
    pub fn may_log_response_data(self) -> bool {
        matches!(
            self,
            Ins::SelectFile | Ins::GetData | Ins::ListFiles | Ins::ReadPublicKey | Ins::ReadRecord
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_trace_may_show() {
        for ins in [
            Ins::PerformSecurityOp,
            Ins::ReadBinary,
            Ins::GetChallenge,
            Ins::InitializeUpdate,
        ] {
            assert!(!ins.may_log_response_data(), "{ins:?}");
        }
        for ins in [
            Ins::UpdateBinary,
            Ins::UpdateRecord,
            Ins::AppendRecord,
            Ins::WriteKeyComponent,
            Ins::InstallSecretKey,
            Ins::UpdateSecretKey,
            Ins::Verify,
            Ins::ExternalAuthenticate,
            Ins::PerformSecurityOp,
            Ins::from_u8(0x99),
        ] {
            assert!(!ins.may_log_command_data(), "{ins:?}");
            assert!(!ins.may_log_response_data(), "{ins:?}");
        }
    }

    #[test]
    fn sw_round_trip_all_values() {
        for raw in 0..=u16::MAX {
            assert_eq!(StatusWord::from_u16(raw).to_u16(), raw);
        }
        assert_eq!(
            StatusWord::from_u16(0x63C3),
            StatusWord::VerifyFail { tries: 3 }
        );
        assert_eq!(
            StatusWord::from_u16(0x6985),
            StatusWord::ConditionsNotSatisfied
        );
        assert_eq!(
            format!("{:?}", StatusWord::from_u16(0x6A82)),
            "FileNotFound(6A82)"
        );
        assert_eq!(format!("{:?}", StatusWord::from_u16(0x1234)), "SW(1234)");
    }

    #[test]
    fn ins_round_trip_all_values() {
        for raw in 0..=u8::MAX {
            assert_eq!(Ins::from_u8(raw).to_u8(), raw);
        }
        assert!(Ins::from_u8(0xE3).is_sensitive());
        assert!(!Ins::from_u8(0xB0).is_sensitive());
    }
}
