# epass2003-tool messages, English (the fallback). Placeables: { $name }.
# Keep the ids in step with ja.ftl (a unit test checks both files have the same ids).

## Errors from the token layer
err-wrong-pin = wrong PIN
err-pin-locked = the PIN is locked
err-pin-len-range = the PIN's length is outside the token's PIN policy
err-pin-invalid = the PIN does not meet the token's PIN policy (or is the same as the old one)
err-removed = the token was removed (or did not answer)
err-card = card error: { $detail }
err-token-full = the token's memory is full
err-write-protected = the token was personalised by Feitian's middleware: its keys and certificates work and its user PIN can be changed here, but not this; use the vendor's tool, or re-initialise it with `epass2003-tool init --erase` (erases everything on it)
err-not-initialised = the token is not initialised: run `epass2003-tool init` first
err-no-user-pin = the token has no user PIN yet: set it with the SO PIN (`epass2003-tool pin unblock`)
err-key-size = the card cannot hold a key of this size
err-key-usage = the key's usage does not allow this
err-sessions-open = another application has sessions open on this token
err-internal = internal error: { $detail }
err-on-token = token { $serial }: { $message }

## Choosing the token
word-serial = serial
word-user-pin = user PIN
word-so-pin = SO PIN
err-token-unreadable = the token in "{ $reader }" cannot be read: { $detail }
err-several-tokens = { $count } tokens are present; choose one with --serial or --reader: { $list }
err-no-match = no token matches { $what }
err-wrong-pin-left = wrong { $who }: { $left } tries left
err-wrong-pin-who = wrong { $who }
err-user-pin-locked = the user PIN is locked: unblock it with the SO PIN (`epass2003-tool pin unblock`)
err-so-pin-locked = the SO PIN is locked: the token can no longer be administered (no unblocking of the user PIN, no change of the SO PIN). Its certificates and keys still work with the user PIN. The only way out is `epass2003-tool init --erase`, which erases everything on the token.

## Why no token is seen
diag-no-pcscd = the PC/SC service is not running ({ $detail }): start it with `systemctl start pcscd` (packages: pcscd, libccid)
diag-no-reader = no smart-card reader is connected: plug in the token (a USB token is its own reader; packages: pcscd, libccid)
diag-reader-empty = no token in the reader(s): { $readers }. Insert the token.
diag-token-busy = the token in "{ $reader }" is busy (another application holds it: { $detail }); ATR { $atr }. Close that application and try again.
diag-not-epass2003 = the card in "{ $reader }" is not an ePass2003 (ATR { $atr })
diag-nothing-configured = no reader and no emulated token: is pcscd running (`systemctl start pcscd`) and the token plugged in? For the emulated token set EPASS2003_EMULATOR=FILE.

## PINs and passwords
secret-user-pin = User PIN
secret-new-user-pin = New user PIN
secret-so-pin = SO PIN
secret-new-so-pin = New SO PIN
secret-p12-password = PKCS#12 password
secret-new-p12-password = New PKCS#12 password
prompt-repeat = Repeat it
err-secrets-fd = --secrets-fd { $fd }: cannot read it ({ $detail })
err-prompt = prompt: { $detail }
err-entries-differ = the two entries differ
err-secrets-lines-read = { $source }: { $detail }
err-secrets-lines-ended = { $source } ended before the { $what } was given
err-secret-needed = the { $what } is needed and nobody can be asked (no terminal): set { $env }, pass it on --secrets-fd N or --secrets-file FILE, or give the systemd credential { $credential } ($CREDENTIALS_DIRECTORY); never on the command line
err-secrets-file = secrets file { $file }: cannot read it ({ $detail })
err-secrets-file-mode = secrets file { $file } is readable or writable by others (mode { $mode }): refused; make it private with: chmod 600 { $file }
err-secrets-fd-and-file = --secrets-fd and --secrets-file cannot be used together
strength-low = low
strength-medium = medium
strength-high = high

## list
list-slot = Slot { $slot }: { $reader }
list-no-token = no token
list-token = token "{ $label }", serial { $serial }, model { $model }
list-not-initialised = not initialised
list-unreadable = token present, unreadable: { $detail }
list-present = token present
confirm-no-terminal = (no terminal: use --yes)

## info
word-unknown = unknown
layout-pkcs15 = PKCS#15 (OpenSC-compatible)
layout-feitian = Feitian middleware (ENTERSAFE-ESPK)
layout-blank = blank (not initialised)
info-label = Label
info-serial = Serial
info-model = Model
info-manufacturer = Manufacturer
info-sm = Secure messaging
info-layout = Layout
info-memory = Memory
memory-free = { $free } bytes free of { $total }
memory-unknown = unknown (the card does not report total or free memory)
info-write-protected = Write-protected
info-user-policy = User PIN policy
info-so-policy = SO PIN policy
info-timeout = Inactivity timeout
timeout-none = none
timeout-minutes = { $minutes ->
    [one] { $minutes } minute
   *[other] { $minutes } minutes
}
info-objects = Objects
info-objects-count = { $certs } certificates, { $pubkeys } public keys, { $data } data objects (private keys show after login)
policy-length = { $min }..{ $max } characters
policy-digits-only = , digits only
policy-needs-digit = , at least one digit
policy-needs-letter = , at least one letter
tries-not-set = not set
tries-no-counter = no retry counter (never locks)
tries-locked = LOCKED (0 of { $max } tries left)
tries-left = { $left } of { $max } tries left
tries-unknown = unknown tries left (maximum { $max })

## rename, timeout
rename-done = Token { $serial } renamed: "{ $old }" -> "{ $new }"
err-label-long = the label is { $bytes } bytes of UTF-8; at most 32 fit (it is never cut)
err-label-control = the label contains a control character
opt-timeout = timeout (minutes)
timeout-set-none = Token { $serial }: no inactivity timeout
timeout-set = Token { $serial }: logged out after { $minutes ->
    [one] { $minutes } minute
   *[other] { $minutes } minutes
} without use
err-out-of-range = { $name } { $value } is out of range: allowed { $lo }..{ $hi }
err-cancelled = cancelled: nothing was changed
err-id-hex = --id { $id }: not hex

## PINs
err-pin-halfwidth = the new { $who } must be typed in half-width letters, digits and symbols (turn the Japanese input method off)
err-pin-same = the new PIN must differ from the old one
pin-changed = User PIN of token { $serial } changed (strength: { $strength }).
pin-unblocked = User PIN of token { $serial } unblocked and set (strength: { $strength }).
so-pin-changed = SO PIN of token { $serial } changed (strength: { $strength }).
pin-strength = Strength: { $strength }

## init
err-min-above-max = --pin-min { $min } is larger than --pin-max { $max }
warn-opensc-locked-out = PINs of at least { $min } characters cannot be entered through OpenSC (it sends at most { $limit } bytes): OpenSC users will be locked out
warn-opensc-long-pins = PINs longer than { $limit } characters cannot be entered through OpenSC: keep PINs at most { $limit } long if OpenSC is used with this token
warn-no-counter = a maximum of 0 tries means no retry counter: wrong PINs are never counted and the PIN never locks
warning = warning: { $text }
confirm-init = Initialise token { $serial } ("{ $label }")? Everything on it will be erased.
init-progress = Erasing the token and creating the file system and PINs ...
done = Done.
init-done = Token { $serial } initialised: label "{ $label }", user PIN and SO PIN set ({ $user_max } / { $so_max } tries), PIN length { $min }..{ $max }, timeout { $timeout }.
init-strength = PIN strength: user { $user }, SO { $so }.

## delete, keygen, csr
kind-certificate = certificate
kind-public-key = public key
kind-private-key = private key
kind-data = data object
object-named = { $kind } "{ $label }" (id { $id })
err-say-which = say which one: --id HEX or --label LABEL (see `certs list`)
err-nothing-matches = nothing on the token matches
confirm-delete = Delete from token { $serial }: { $list }?
deleted = Deleted from token { $serial }: { $list }
note-ec-sign-only = note: EC keys on this card sign only; the key gets signature usage
keygen-progress = Generating an { $kind } key pair on token { $serial } (this takes a while on a real card) ...
err-new-key-not-listed = the new key is not listed
keygen-done = Key pair "{ $label }" generated on token { $serial } (id { $id }).
err-no-key-matches = no private key matches (see `certs list`)
err-several-keys = several private keys match: choose one with --id
err-no-public-half = the key's public half is not on the token
err-csr = certificate request: { $detail }
csr-written = Certificate request for "{ $subject }" written to { $file }
err-subject = --subject: { $detail }
err-file = { $file }: { $detail }

## certs, expiring
certs-none = No certificates on token { $serial }.
certs-line = issuer { $issuer }, valid until { $until }
certs-key-on-token = key on the token
certs-unreadable = (the certificate cannot be parsed)
word-expired = EXPIRED
word-yes = yes
cert-subject = Subject
cert-issuer = Issuer
cert-self-signed = self-signed
cert-serial = Serial
cert-valid-from = Valid from
cert-valid-until = Valid until
cert-days-left = { $days } days left
cert-key = Key
cert-fingerprint = SHA-256 fingerprint
cert-key-usage = Key usage
cert-eku = Extended key usage
cert-header-key = Certificate "{ $label }" (id { $id }), private key on the token
cert-header-nokey = Certificate "{ $label }" (id { $id }), no private key on the token
cert-issuer-on-token = Issuer certificate: on the token (the signature is not checked here)
cert-issuer-not-on-token = Issuer certificate: not on the token: not verified
err-no-cert-matches = no certificate matches (see `certs list`)
err-several-certs = several certificates match: choose one with --id or --label
err-der-stdout = DER is binary: write it to a file with --out FILE
cert-written = Certificate "{ $label }" written to { $file }
expiry-expired = EXPIRED  { $label } (id { $id }): { $subject } expired { $date }
expiry-soon = EXPIRING { $label } (id { $id }): { $subject } expires { $date } ({ $days } days left)
expiry-none = No certificate on token { $serial } expires within { $days } days.

## import
import-cert = Imported certificate { $subject } as "{ $label }" (id { $id })
import-cert-with-key = Imported certificate { $subject } as "{ $label }" (id { $id }), next to its key
import-cert-ca = Imported certificate { $subject } as "{ $label }" (id { $id }), as a CA certificate
import-already = Already on the token: { $subject }
err-rsa-size = the key is RSA { $bits }: this card holds RSA 1024 and 2048 keys
err-already-imported = this key and its certificates are already on the token (id { $id }): delete them first (`epass2003-tool delete key --id { $id } --with-cert`)
import-completing = The key is already on the token (an earlier import was interrupted): completing it
import-writing = Writing the { $kind } key to token { $serial } ...
import-key = Imported { $kind } key "{ $label }" (id { $id }), usage { $usage }
import-key-cert = , certificate { $subject }
import-key-chain = , { $count } CA certificate(s)
usage-sign = signature only
usage-sign-exchange = signature and key exchange
import-default-label = Imported key
err-no-cert-in-file = { $file }: no certificate in it
err-ec-mismatch = { $file }: the EC key's public point does not match its private scalar

## PKCS#12 files
err-p12-password = { $file }: wrong password
err-p12-damaged = { $file }: not a readable PKCS#12 file ({ $detail })
err-p12-unsupported = { $file }: unsupported content ({ $detail })
p12-summary = { $file }: { $keys } key(s), { $certs } certificate(s); encryption { $encryption }; MAC { $mac }
word-none = none
word-key = Key
err-p12-policy-len = the new password has { $n } characters; the policy allows { $min }..{ $max }
err-p12-lower-alnum = the new password may contain only lower-case letters a-z and digits 0-9
err-p12-same = the new password must differ from the old one
p12-changed-backup = Password of { $file } changed. The original is kept as { $backup }.
p12-changed-in-place = Password of { $file } changed in place (no backup kept).
p12-written = The file with the new password is { $output }; { $file } is unchanged.
err-p12-change = { $file }: { $detail }
err-p12-output-same = --output names { $file } itself: use --in-place to replace it
err-p12-output-exists = { $file } exists already: it is never overwritten, choose another --output
err-p12-backup = cannot keep the original as { $file }: { $detail } (nothing was changed)
err-p12-backups-full = { $file }.orig .. { $file }.orig.999 all exist: remove old backups, or use --output or --in-place
diag-written = Diagnostic bundle written to { $file } (no PIN, key or private data in it)
err-into-no-key = --into { $id }: no key pair with this id on the token (see `certs list` / `info`)
err-into-mismatch = --into { $id }: the certificate's public key is not this key's
confirm-replace-cert = A certificate of the same key is already on the token. Replace it with { $subject }?
info-user-pin = User PIN
info-so-pin = SO PIN
err-pin-not-printable = the new { $who } contains a control character or is not valid UTF-8
err-pin-length = the new { $who } has { $len } characters; the token's policy allows { $min }..{ $max }
err-pin-digits-only = the new { $who } may contain digits only (the token's policy)
err-pin-needs-digit = the new { $who } must contain at least one digit (the token's policy)
err-pin-needs-letter = the new { $who } must contain at least one letter (the token's policy)

## watch
watch-inserted = { $time } inserted: token "{ $label }" serial { $serial } in { $reader }
watch-inserted-unreadable = { $time } inserted: a token that cannot be read ({ $detail }) in { $reader }
watch-removed = { $time } removed: token "{ $label }" serial { $serial } from { $reader }
watch-removed-unknown = { $time } removed: token from { $reader }
watch-watching = Watching for tokens being inserted and removed (Ctrl-C to stop).
watch-title-inserted = Token inserted
watch-title-removed = Token removed
watch-body = "{ $label }" (serial { $serial })
watch-body-unknown = in { $reader }
watch-no-bus = warning: --notify: no D-Bus session bus ({ $detail }); watching without desktop notifications
watch-notify-failed = warning: --notify: the desktop notification could not be shown ({ $detail }); further failures are not reported
watch-output-closed = the output was closed
watch-not-streamed = watch streams its output: it runs from `run`, not `dispatch`
expiry-from-record = Token { $serial } ("{ $label }") is not connected: as last seen { $date }:
expiry-none-record = No recorded certificate expires within { $days } days.
err-config-setting = configuration: { $detail }
notice-title-expired = Certificate expired: { $cn }
notice-title-expiring = Certificate expires in { $days } days: { $cn }
notice-body-expired = { $cn } (id { $id }) on token "{ $label }" (serial { $serial }) expired { $date }.
notice-body-expiring = { $cn } (id { $id }) on token "{ $label }" (serial { $serial }) expires { $date } ({ $days } days left).
notice-last-seen = (Token last seen { $date }.)
notice-renew = Renew it with: { $command }
notice-failed = warning: --notify: the desktop notification could not be shown ({ $detail })
seen-unreadable = warning: the record of tokens seen { $file } cannot be read ({ $detail })
seen-corrupt = warning: the record of tokens seen { $file } is corrupt ({ $detail }); it is kept as tokens-seen.json.corrupt and replaced
seen-not-written = warning: the record of tokens seen { $file } could not be written ({ $detail })

# SCEP enrolment (enroll / renew)
secret-scep-challenge = SCEP challenge password
result-file-not-written = warning: the result file { $file } could not be written ({ $detail })
scep-contacting = Contacting the SCEP server { $url } ...
scep-trust-ca = The CA "{ $subject }" has the SHA-256 fingerprint { $fingerprint }. Is that the fingerprint your administrator gave you (next time: --ca-fingerprint)?
err-ca-not-trusted = the CA "{ $subject }" is not trusted: its SHA-256 fingerprint is { $fingerprint }; compare it with the one your administrator gave you and pass it as --ca-fingerprint
err-scep = { $detail }
err-scep-ec = SCEP needs an RSA key: the CA encrypts its reply to the requesting key, which an EC key cannot decrypt
err-email = --email: { $detail }
err-enroll-no-subject = no subject: give --cn or --subject (the login name is unknown)
err-scep-not-our-key = the CA's reply holds no certificate for the key generated on the token
err-scep-foreign-issuer = the certificate in the CA's reply was issued by "{ $issuer }", not by the CA contacted
err-scep-readback = the certificate written to the token did not read back the same; it was removed again
scep-sending = Sending the { $kind } to the CA (the card signs it) ...
scep-pending = The CA holds the request for approval (transaction { $txid }). The new key (id { $id }) stays on token { $serial }. When the administrator has approved it: `epass2003-tool enroll --poll`; to abandon it: `epass2003-tool enroll --withdraw`.
scep-pending-not-recorded = No record of the request could be kept (no state directory), so `enroll --poll` will not find it.
scep-polling = Asking the CA about the request { $txid } (the card signs the question) ...
scep-still-pending = The CA still holds the request { $txid } (sent { $since }). Ask again later with `epass2003-tool enroll --poll`.
err-pending-none = token { $serial } has no pending certificate request (see `certs list`)
err-pending-several = the token has several pending requests: choose one with --id (the key id `certs list` shows)
err-pending-record = the record of the pending request is damaged ({ $detail }); abandon it with `enroll --withdraw`
err-pending-key-gone = the key (id { $id }) that signed the pending request is no longer on the token; abandon the request with `enroll --withdraw`
err-pending-refused = the CA refused the request { $txid } ({ $detail }). { $deleted }
pending-key-deleted = The key pair made for it (id { $id }) was deleted.
pending-withdrawn = The request { $txid } was withdrawn. { $deleted } SCEP cannot tell the CA ({ $url }): tell your administrator.
pending-old-replaced = The certificate it renews was replaced.
renew-already-pending = A renewal of this certificate is already waiting for the CA's approval (transaction { $txid }, sent { $since }, new key id { $id }): `epass2003-tool enroll --poll`, or `epass2003-tool enroll --withdraw` to abandon it.
pending-line = Pending request (key id { $id }): { $subject }, sent to { $url } on { $since } (transaction { $txid }): `enroll --poll`
scep-enrolled = Certificate "{ $subject }" (S/N { $serial }, valid until { $expires }) stored on token { $token } with its key (id { $id }).
err-renew-no-cert = no certificate to renew on the token matches (see `certs list`; choose with --id or --label)
err-renew-several = several certificates on the token could be renewed: choose one with --id or --label
err-renew-unreadable = the certificate to renew cannot be parsed
err-renew-no-key = the certificate's private key is not on the token, so it cannot be renewed here (enrol a new one with `enroll`)
renew-not-due = Not due: "{ $subject }" expires { $expires } ({ $days_left } days left), outside the { $days }-day notice window. Nothing was changed (--force renews anyway).
renew-new-key = a new key pair
renew-same-key = the same key pair
scep-renewed = Renewed ({ $kind }, { $key }): certificate "{ $subject }" (S/N { $serial }, valid until { $expires }) stored on token { $token }; the old certificate was replaced.
renew-old-not-removed = Warning: the old certificate or key could not be removed ({ $detail }); delete it with `delete`.
err-enroll-no-url = enroll needs the CA's SCEP URL: --url https://.../scep
err-renew-no-url = this certificate was not enrolled by epass2003-tool (or its record is gone): give the CA's SCEP URL with --url
warn-insecure-tls = WARNING: --insecure-skip-tls-verify: the web server's TLS certificate is not checked, so anyone on the network path can pose as it. The SCEP CA is still checked by its fingerprint. Use --cacert FILE instead.
err-cacert = cannot use the CA certificate file { $file }: { $detail }
enroll-renews-existing = The token already holds a valid certificate "{ $subject }" (id { $id }) from this CA: renewing it (use --new to enrol a second one).
notice-title-renew-pin = Certificate due for renewal: { $cn }
notice-body-renew-pin = { $cn } (id { $id }) on token { $serial } expires { $date } and is due for renewal, but no PIN is configured for unattended renewal. Plug in the token and run: { $command }
renew-no-pin-source = "{ $cn }" expires { $date } and is due for renewal, but no PIN source is configured (EPASS2003_PIN, --secrets-fd/--secrets-file, or the systemd credential epass2003-pin); not renewed. Run: { $command }
trust-store-user = your NSS database (~/.pki/nssdb: Chromium, NSS tools)
trust-store-system = the system's trust store
trust-ca-confirm = Add the CA "{ $subject }" (SHA-256 { $fingerprint }) to { $store }, so that servers with certificates from it are trusted?
trust-ca-skipped = The CA certificate was not added to a trust store (not confirmed; --yes confirms).
trust-ca-done = The CA "{ $subject }" is now trusted in { $place }.
trust-ca-failed = Warning: the CA certificate could not be added to the trust store: { $detail }
