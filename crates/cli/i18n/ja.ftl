# epass2003-tool のメッセージ（日本語）。プレースホルダー: { $name }
# ID は en.ftl と同じにしてください（単体テストで確認します）。

## トークン層のエラー
err-wrong-pin = PIN が正しくありません
err-pin-locked = PIN はロックされています
err-pin-len-range = PIN の長さがトークンの PIN ポリシーの範囲外です
err-pin-invalid = PIN がトークンの PIN ポリシーを満たしていません（または古い PIN と同じです）
err-removed = トークンが取り外されました（または応答がありません）
err-card = カードのエラー: { $detail }
err-token-full = トークンのメモリが一杯です
err-write-protected = このトークンは Feitian 社のミドルウェアで発行されています。鍵と証明書は使え、ユーザー PIN もここで変更できますが、この操作はできません。ベンダーのツールを使うか、`epass2003-tool init --erase` で再初期化してください（内容はすべて消去されます）
err-not-initialised = トークンが初期化されていません。先に `epass2003-tool init` を実行してください
err-no-user-pin = トークンにユーザー PIN がまだありません。SO PIN で設定してください（`epass2003-tool pin unblock`）
err-key-size = このサイズの鍵はカードに格納できません
err-key-usage = 鍵の用途がこの操作を許可していません
err-sessions-open = 他のアプリケーションがこのトークンのセッションを開いています
err-internal = 内部エラー: { $detail }
err-on-token = トークン { $serial }: { $message }

## トークンの選択
word-serial = シリアル番号
word-user-pin = ユーザー PIN
word-so-pin = SO PIN
err-token-unreadable = 「{ $reader }」のトークンを読み取れません: { $detail }
err-several-tokens = トークンが { $count } 個あります。--serial または --reader で一つを選んでください: { $list }
err-no-match = { $what } に一致するトークンがありません
err-wrong-pin-left = { $who } が正しくありません。残り試行回数: { $left } 回
err-wrong-pin-who = { $who } が正しくありません
err-user-pin-locked = ユーザー PIN はロックされています。SO PIN でロックを解除してください（`epass2003-tool pin unblock`）
err-so-pin-locked = SO PIN はロックされています。このトークンはもう管理できません（ユーザー PIN のロック解除も SO PIN の変更もできません）。証明書と鍵はユーザー PIN で引き続き使えます。唯一の回復手段は `epass2003-tool init --erase` で、トークンの内容はすべて消去されます。

## トークンが見つからない理由
diag-no-pcscd = PC/SC サービスが動作していません（{ $detail }）。`systemctl start pcscd` で起動してください（パッケージ: pcscd, libccid）
diag-no-reader = スマートカードリーダーが接続されていません。トークンを挿してください（USB トークンはそれ自体がリーダーです。パッケージ: pcscd, libccid）
diag-reader-empty = リーダーにトークンがありません: { $readers }。トークンを挿入してください。
diag-token-busy = 「{ $reader }」のトークンは使用中です（他のアプリケーションが占有しています: { $detail }）。ATR { $atr }。そのアプリケーションを終了してから再試行してください。
diag-not-epass2003 = 「{ $reader }」のカードは ePass2003 ではありません（ATR { $atr }）
diag-nothing-configured = リーダーもエミュレートされたトークンもありません。pcscd は動作していますか（`systemctl start pcscd`）、トークンは挿さっていますか。エミュレートされたトークンを使うには EPASS2003_EMULATOR=ファイル を設定してください。

## PIN とパスワード
secret-user-pin = ユーザー PIN
secret-new-user-pin = 新しいユーザー PIN
secret-so-pin = SO PIN
secret-new-so-pin = 新しい SO PIN
secret-p12-password = PKCS#12 パスワード
secret-new-p12-password = 新しい PKCS#12 パスワード
prompt-repeat = もう一度入力
err-secrets-fd = --secrets-fd { $fd }: 読み取れません（{ $detail }）
err-prompt = 入力: { $detail }
err-entries-differ = 2 回の入力が一致しません
err-secrets-lines-read = { $source }: { $detail }
err-secrets-lines-ended = { $what } が与えられる前に { $source } が終わりました
err-secret-needed = { $what } が必要ですが、尋ねる相手がいません（端末なし）。{ $env } を設定するか、--secrets-fd N または --secrets-file FILE で渡すか、systemd の資格情報 { $credential }（$CREDENTIALS_DIRECTORY）を与えてください。コマンドラインでは渡せません
err-secrets-file = シークレットファイル { $file }: 読み取れません（{ $detail }）
err-secrets-file-mode = シークレットファイル { $file } は他のユーザーが読み書きできます（モード { $mode }）。拒否しました。次のコマンドで非公開にしてください: chmod 600 { $file }
err-secrets-fd-and-file = --secrets-fd と --secrets-file は同時に使えません
strength-low = 低
strength-medium = 中
strength-high = 高

## list
list-slot = スロット { $slot }: { $reader }
list-no-token = トークンなし
list-token = トークン「{ $label }」、シリアル番号 { $serial }、モデル { $model }
list-not-initialised = 未初期化
list-unreadable = トークンはありますが読み取れません: { $detail }
list-present = トークンあり
confirm-no-terminal = （端末がありません: --yes を使ってください）

## info
word-unknown = 不明
layout-pkcs15 = PKCS#15（OpenSC 互換）
layout-feitian = Feitian ミドルウェア（ENTERSAFE-ESPK）
layout-blank = 空（未初期化）
info-label = ラベル
info-serial = シリアル番号
info-model = モデル
info-manufacturer = 製造元
info-sm = セキュアメッセージング
info-layout = レイアウト
info-memory = メモリ
memory-free = 空き { $free } バイト（全 { $total } バイト）
memory-unknown = 不明（カードは全容量・空き容量を報告しません）
info-write-protected = 書き込み禁止
info-user-policy = ユーザー PIN ポリシー
info-so-policy = SO PIN ポリシー
info-timeout = 無操作タイムアウト
timeout-none = なし
timeout-minutes = { $minutes } 分
info-objects = オブジェクト
info-objects-count = 証明書 { $certs } 個、公開鍵 { $pubkeys } 個、データオブジェクト { $data } 個（秘密鍵はログイン後に表示されます）
policy-length = { $min }～{ $max } 文字
policy-digits-only = 、数字のみ
policy-needs-digit = 、数字を 1 文字以上
policy-needs-letter = 、英字を 1 文字以上
tries-not-set = 未設定
tries-no-counter = 試行回数の制限なし（ロックされません）
tries-locked = ロック中（残り 0 回 / 最大 { $max } 回）
tries-left = 残り { $left } 回 / 最大 { $max } 回
tries-unknown = 残り回数不明（最大 { $max } 回）

## rename, timeout
rename-done = トークン { $serial } の名前を変更しました:「{ $old }」→「{ $new }」
err-label-long = ラベルは UTF-8 で { $bytes } バイトです。32 バイトまでしか入りません（途中で切り詰めることはしません）
err-label-control = ラベルに制御文字が含まれています
opt-timeout = タイムアウト（分）
timeout-set-none = トークン { $serial }: 無操作タイムアウトなし
timeout-set = トークン { $serial }: { $minutes } 分間操作がないとログアウトします
err-out-of-range = { $name } { $value } は範囲外です。指定できる範囲: { $lo }..{ $hi }
err-cancelled = 取り消しました。何も変更していません
err-id-hex = --id { $id }: 16 進数ではありません

## PIN
err-pin-halfwidth = 新しい { $who } は半角の英字・数字・記号で入力してください（日本語入力をオフにしてください）
err-pin-same = 新しい PIN は古い PIN と異なるものにしてください
pin-changed = トークン { $serial } のユーザー PIN を変更しました（強度: { $strength }）。
pin-unblocked = トークン { $serial } のユーザー PIN のロックを解除し、新しい PIN を設定しました（強度: { $strength }）。
so-pin-changed = トークン { $serial } の SO PIN を変更しました（強度: { $strength }）。
pin-strength = 強度: { $strength }

## init
err-min-above-max = --pin-min { $min } が --pin-max { $max } より大きくなっています
warn-opensc-locked-out = { $min } 文字以上の PIN は OpenSC から入力できません（OpenSC は最大 { $limit } バイトしか送りません）。OpenSC の利用者はログインできなくなります
warn-opensc-long-pins = { $limit } 文字を超える PIN は OpenSC から入力できません。このトークンを OpenSC で使う場合は PIN を { $limit } 文字以内にしてください
warn-no-counter = 最大試行回数 0 は試行回数の制限なしを意味します。誤った PIN は数えられず、PIN はロックされません
warning = 警告: { $text }
confirm-init = トークン { $serial }（「{ $label }」）を初期化しますか? トークンの内容はすべて消去されます。
init-progress = トークンを消去し、ファイルシステムと PIN を作成しています...
done = 完了しました。
init-done = トークン { $serial } を初期化しました: ラベル「{ $label }」、ユーザー PIN と SO PIN を設定（試行回数 { $user_max } / { $so_max } 回）、PIN の長さ { $min }～{ $max }、タイムアウト { $timeout }。
init-strength = PIN の強度: ユーザー { $user }、SO { $so }。

## delete, keygen, csr
kind-certificate = 証明書
kind-public-key = 公開鍵
kind-private-key = 秘密鍵
kind-data = データオブジェクト
object-named = { $kind }「{ $label }」（ID { $id }）
err-say-which = 対象を指定してください: --id HEX または --label ラベル（`certs list` で確認できます）
err-nothing-matches = トークン上に一致するものがありません
confirm-delete = トークン { $serial } から削除しますか: { $list }?
deleted = トークン { $serial } から削除しました: { $list }
note-ec-sign-only = 注意: このカードの EC 鍵は署名専用です。鍵には署名用途が設定されます
keygen-progress = トークン { $serial } 上で { $kind } の鍵ペアを生成しています（実際のカードでは時間がかかります）...
err-new-key-not-listed = 生成した鍵が一覧にありません
keygen-done = トークン { $serial } 上に鍵ペア「{ $label }」を生成しました（ID { $id }）。
err-no-key-matches = 一致する秘密鍵がありません（`certs list` で確認できます）
err-several-keys = 複数の秘密鍵が一致します。--id で一つを選んでください
err-no-public-half = この鍵の公開鍵がトークン上にありません
err-csr = 証明書要求: { $detail }
csr-written = 「{ $subject }」の証明書要求を { $file } に書き出しました
err-subject = --subject: { $detail }
err-file = { $file }: { $detail }

## certs, expiring
certs-none = トークン { $serial } に証明書はありません。
certs-line = 発行者 { $issuer }、有効期限 { $until }
certs-key-on-token = 鍵はトークン上にあります
certs-unreadable = （証明書を解析できません）
word-expired = 期限切れ
word-yes = はい
cert-subject = サブジェクト
cert-issuer = 発行者
cert-self-signed = 自己署名
cert-serial = シリアル番号
cert-valid-from = 有効期間の開始
cert-valid-until = 有効期限
cert-days-left = 残り { $days } 日
cert-key = 鍵
cert-fingerprint = SHA-256 フィンガープリント
cert-key-usage = 鍵の用途
cert-eku = 拡張鍵用途
cert-header-key = 証明書「{ $label }」（ID { $id }）、秘密鍵はトークン上にあります
cert-header-nokey = 証明書「{ $label }」（ID { $id }）、秘密鍵はトークン上にありません
cert-issuer-on-token = 発行者の証明書: トークン上にあります（ここでは署名を検証していません）
cert-issuer-not-on-token = 発行者の証明書: トークン上にありません（未検証）
err-no-cert-matches = 一致する証明書がありません（`certs list` で確認できます）
err-several-certs = 複数の証明書が一致します。--id または --label で一つを選んでください
err-der-stdout = DER はバイナリです。--out ファイル でファイルに書き出してください
cert-written = 証明書「{ $label }」を { $file } に書き出しました
expiry-expired = 期限切れ   { $label }（ID { $id }）: { $subject } は { $date } に期限が切れました
expiry-soon = 期限間近   { $label }（ID { $id }）: { $subject } は { $date } に期限が切れます（残り { $days } 日）
expiry-none = トークン { $serial } に { $days } 日以内に期限が切れる証明書はありません。

## import
import-cert = 証明書 { $subject } を「{ $label }」（ID { $id }）として取り込みました
import-cert-with-key = 証明書 { $subject } を「{ $label }」（ID { $id }）として、対応する鍵の隣に取り込みました
import-cert-ca = 証明書 { $subject } を「{ $label }」（ID { $id }）として、CA 証明書として取り込みました
import-already = すでにトークン上にあります: { $subject }
err-rsa-size = この鍵は RSA { $bits } です。このカードに格納できるのは RSA 1024 と 2048 の鍵です
err-already-imported = この鍵と証明書はすでにトークン上にあります（ID { $id }）。先に削除してください（`epass2003-tool delete key --id { $id } --with-cert`）
import-completing = 鍵はすでにトークン上にあります（前回の取り込みが中断されました）。取り込みを完了します
import-writing = { $kind } の鍵をトークン { $serial } に書き込んでいます...
import-key = { $kind } の鍵「{ $label }」（ID { $id }）を取り込みました。用途: { $usage }
import-key-cert = 、証明書 { $subject }
import-key-chain = 、CA 証明書 { $count } 個
usage-sign = 署名のみ
usage-sign-exchange = 署名と鍵交換
import-default-label = 取り込んだ鍵
err-no-cert-in-file = { $file }: 証明書が含まれていません
err-ec-mismatch = { $file }: EC 鍵の公開点が秘密スカラーと一致しません

## PKCS#12 ファイル
err-p12-password = { $file }: パスワードが正しくありません
err-p12-damaged = { $file }: 読み取れる PKCS#12 ファイルではありません（{ $detail }）
err-p12-unsupported = { $file }: 対応していない内容です（{ $detail }）
p12-summary = { $file }: 鍵 { $keys } 個、証明書 { $certs } 個。暗号化 { $encryption }。MAC { $mac }
word-none = なし
word-key = 鍵
err-p12-policy-len = 新しいパスワードは { $n } 文字です。ポリシーで認められる長さは { $min }..{ $max } です
err-p12-lower-alnum = 新しいパスワードに使えるのは英小文字 a-z と数字 0-9 だけです
err-p12-same = 新しいパスワードは古いパスワードと異なるものにしてください
p12-changed-backup = { $file } のパスワードを変更しました。元のファイルは { $backup } に残してあります。
p12-changed-in-place = { $file } のパスワードをその場で変更しました (バックアップは残していません)。
p12-written = 新しいパスワードのファイルは { $output } です。{ $file } は変更していません。
err-p12-change = { $file }: { $detail }
err-p12-output-same = --output が { $file } 自身を指しています。置き換える場合は --in-place を指定してください
err-p12-output-exists = { $file } は既に存在します。上書きはしませんので、別の --output を指定してください
err-p12-backup = 元のファイルを { $file } として残せません: { $detail } (何も変更していません)
err-p12-backups-full = { $file }.orig から { $file }.orig.999 まですべて存在します。古いバックアップを削除するか、--output または --in-place を指定してください
diag-written = 診断情報を { $file } に書き出しました（PIN、鍵、非公開データは含まれていません）
err-into-no-key = --into { $id }: この ID の鍵ペアはトークン上にありません（`certs list` / `info` で確認できます）
err-into-mismatch = --into { $id }: 証明書の公開鍵はこの鍵のものではありません
confirm-replace-cert = 同じ鍵の証明書がすでにトークン上にあります。{ $subject } で置き換えますか?
info-user-pin = ユーザー PIN
info-so-pin = SO PIN
err-pin-not-printable = 新しい { $who } に制御文字が含まれているか、UTF-8 として正しくありません
err-pin-length = 新しい { $who } は { $len } 文字です。トークンのポリシーで認められる長さは { $min }～{ $max } 文字です
err-pin-digits-only = 新しい { $who } には数字しか使えません（トークンのポリシー）
err-pin-needs-digit = 新しい { $who } には数字を 1 文字以上含めてください（トークンのポリシー）
err-pin-needs-letter = 新しい { $who } には英字を 1 文字以上含めてください（トークンのポリシー）

## watch
watch-inserted = { $time } 挿入: トークン「{ $label }」シリアル番号 { $serial }（{ $reader }）
watch-inserted-unreadable = { $time } 挿入: 読み取れないトークン（{ $detail }）（{ $reader }）
watch-removed = { $time } 取り外し: トークン「{ $label }」シリアル番号 { $serial }（{ $reader }）
watch-removed-unknown = { $time } 取り外し: トークン（{ $reader }）
watch-watching = トークンの挿入と取り外しを監視しています（Ctrl-C で終了）。
watch-title-inserted = トークンが挿入されました
watch-title-removed = トークンが取り外されました
watch-body = 「{ $label }」（シリアル番号 { $serial }）
watch-body-unknown = { $reader }
watch-no-bus = 警告: --notify: D-Bus セッションバスがありません（{ $detail }）。デスクトップ通知なしで監視を続けます
watch-notify-failed = 警告: --notify: デスクトップ通知を表示できませんでした（{ $detail }）。以後の失敗は報告しません
watch-output-closed = 出力が閉じられました
watch-not-streamed = watch は出力を逐次書き出すため、`dispatch` ではなく `run` から実行されます
expiry-from-record = トークン { $serial }（「{ $label }」）は接続されていません。最後に確認した { $date } の時点で:
expiry-none-record = 記録された証明書のうち { $days } 日以内に期限が切れるものはありません。
err-config-setting = 設定: { $detail }
notice-title-expired = 証明書の期限切れ: { $cn }
notice-title-expiring = 証明書の期限まで残り { $days } 日: { $cn }
notice-body-expired = トークン「{ $label }」（シリアル { $serial }）の { $cn }（ID { $id }）は { $date } に期限が切れました。
notice-body-expiring = トークン「{ $label }」（シリアル { $serial }）の { $cn }（ID { $id }）は { $date } に期限が切れます（残り { $days } 日）。
notice-last-seen = （トークンの最終確認: { $date }）
notice-renew = 更新するには: { $command }
notice-failed = 警告: --notify: デスクトップ通知を表示できませんでした（{ $detail }）
seen-unreadable = 警告: 確認済みトークンの記録 { $file } を読み取れません（{ $detail }）
seen-corrupt = 警告: 確認済みトークンの記録 { $file } が壊れています（{ $detail }）。tokens-seen.json.corrupt として残し、作り直します
seen-not-written = 警告: 確認済みトークンの記録 { $file } を書き込めませんでした（{ $detail }）

# SCEP enrolment (enroll / renew)
secret-scep-challenge = SCEP チャレンジパスワード
result-file-not-written = 警告: 結果ファイル { $file } を書き込めませんでした（{ $detail }）
scep-contacting = SCEP サーバー { $url } に接続しています ...
scep-trust-ca = CA「{ $subject }」の SHA-256 フィンガープリントは { $fingerprint } です。管理者から知らされたものと同じですか（次回からは --ca-fingerprint を指定できます）？
err-ca-not-trusted = CA「{ $subject }」を信頼できません: SHA-256 フィンガープリントは { $fingerprint } です。管理者から知らされたものと照合し、--ca-fingerprint で指定してください
err-scep = { $detail }
err-scep-ec = SCEP には RSA 鍵が必要です: CA は応答を要求元の鍵に暗号化しますが、EC 鍵では復号できません
err-email = --email: { $detail }
err-enroll-no-subject = サブジェクトがありません: --cn か --subject を指定してください（ログイン名が分かりません）
err-scep-not-our-key = CA の応答に、トークン上で生成した鍵の証明書が含まれていません
err-scep-foreign-issuer = CA の応答の証明書は、接続した CA ではなく「{ $issuer }」が発行したものです
err-scep-readback = トークンに書き込んだ証明書を読み戻すと内容が異なったため、削除しました
scep-sending = { $kind } を CA に送信しています（カードで署名します）...
scep-pending = CA が要求を承認待ちで保留しています（トランザクション { $txid }）。新しい鍵（ID { $id }）はトークン { $serial } に残ります。管理者の承認後に `epass2003-tool enroll --poll` を実行してください。取り下げる場合は `epass2003-tool enroll --withdraw` です。
scep-pending-not-recorded = 状態ディレクトリがないため要求の記録を残せませんでした。`enroll --poll` ではこの要求を見つけられません。
scep-polling = 要求 { $txid } の状況を CA に問い合わせています（問い合わせはカードが署名します）...
scep-still-pending = CA は要求 { $txid }（{ $since } 送信）をまだ保留しています。後で `epass2003-tool enroll --poll` をもう一度実行してください。
err-pending-none = トークン { $serial } に承認待ちの証明書要求はありません（`certs list` を参照）
err-pending-several = トークンに承認待ちの要求が複数あります。--id（`certs list` に表示される鍵 ID）で選んでください
err-pending-record = 承認待ち要求の記録が壊れています（{ $detail }）。`enroll --withdraw` で取り下げてください
err-pending-key-gone = 承認待ち要求に署名した鍵（ID { $id }）がトークンにありません。`enroll --withdraw` で要求を取り下げてください
err-pending-refused = CA が要求 { $txid } を拒否しました（{ $detail }）。{ $deleted }
pending-key-deleted = この要求のために生成した鍵ペア（ID { $id }）を削除しました。
pending-withdrawn = 要求 { $txid } を取り下げました。{ $deleted } SCEP では CA（{ $url }）に通知できないため、管理者に連絡してください。
pending-old-replaced = 更新対象の証明書を置き換えました。
renew-already-pending = この証明書の更新要求はすでに CA の承認待ちです（トランザクション { $txid }、{ $since } 送信、新しい鍵 ID { $id }）。`epass2003-tool enroll --poll` を実行するか、取り下げる場合は `epass2003-tool enroll --withdraw` を実行してください。
pending-line = 承認待ちの要求（鍵 ID { $id }）: { $subject }、{ $url } に { $since } 送信（トランザクション { $txid }）: `enroll --poll`
scep-enrolled = 証明書「{ $subject }」（シリアル番号 { $serial }、有効期限 { $expires }）を鍵（ID { $id }）とともにトークン { $token } に格納しました。
err-renew-no-cert = 更新できる証明書がトークンにありません（`certs list` を確認し、--id か --label で指定してください）
err-renew-several = 更新できる証明書が複数あります: --id か --label で一つを指定してください
err-renew-unreadable = 更新する証明書を解析できません
err-renew-no-key = 証明書の秘密鍵がトークンにないため、ここでは更新できません（`enroll` で新しく取得してください）
renew-not-due = 更新の時期ではありません: 「{ $subject }」の有効期限は { $expires }（残り { $days_left } 日）で、{ $days } 日の通知期間外です。何も変更していません（--force で強制的に更新できます）。
renew-new-key = 新しい鍵ペア
renew-same-key = 同じ鍵ペア
scep-renewed = 更新しました（{ $kind }、{ $key }）: 証明書「{ $subject }」（シリアル番号 { $serial }、有効期限 { $expires }）をトークン { $token } に格納し、古い証明書を置き換えました。
renew-old-not-removed = 警告: 古い証明書または鍵を削除できませんでした（{ $detail }）。`delete` で削除してください。
err-enroll-no-url = enroll には CA の SCEP URL が必要です: --url https://.../scep
err-renew-no-url = この証明書は epass2003-tool で取得したものではありません（または記録がありません）: CA の SCEP URL を --url で指定してください
warn-insecure-tls = 警告: --insecure-skip-tls-verify により Web サーバーの TLS 証明書を検証しません。通信経路上の第三者がサーバーになりすますことができます（SCEP の CA はフィンガープリントで引き続き検証します）。代わりに --cacert FILE を使ってください。
err-cacert = CA 証明書ファイル { $file } を使用できません: { $detail }
enroll-renews-existing = トークンにはこの CA の有効な証明書「{ $subject }」（ID { $id }）がすでにあるため、更新します（2 枚目を発行する場合は --new）。
notice-title-renew-pin = 証明書の更新時期です: { $cn }
notice-body-renew-pin = トークン { $serial } の { $cn }（ID { $id }）は { $date } に期限切れとなるため更新が必要ですが、自動更新用の PIN が設定されていません。トークンを挿して次を実行してください: { $command }
renew-no-pin-source = 「{ $cn }」は { $date } に期限切れとなるため更新が必要ですが、PIN の取得元（EPASS2003_PIN、--secrets-fd/--secrets-file、systemd 資格情報 epass2003-pin）が設定されていないため更新しませんでした。次を実行してください: { $command }
trust-store-user = ユーザーの NSS データベース（~/.pki/nssdb: Chromium、NSS ツール）
trust-store-system = システムの信頼ストア
trust-ca-confirm = CA「{ $subject }」（SHA-256 { $fingerprint }）を{ $store }に追加し、この CA の証明書を持つサーバーを信頼しますか?
trust-ca-skipped = CA 証明書は信頼ストアに追加しませんでした（確認されませんでした。--yes で確認を省略できます）。
trust-ca-done = CA「{ $subject }」を { $place } で信頼するようにしました。
trust-ca-failed = 警告: CA 証明書を信頼ストアに追加できませんでした: { $detail }
