"""Every sentence the bot says, one table per language (Bahasa Indonesia first).

Messages are HTML (Telegram's parse mode): `t` escapes every value it fills in, unless the
value is `Safe` (already rendered by `t`), so names, captions and reasons are always shown
as typed and never as markup.
"""

from __future__ import annotations

import html
import re
import string

DEFAULT_LANGUAGE = "id"


class Safe(str):
    """Text that is already HTML-safe (the output of `t`), inserted as it is."""

    __slots__ = ()


def t(lang: str, key: str, **values: object) -> Safe:
    table = MESSAGES.get(lang, MESSAGES[DEFAULT_LANGUAGE])
    template = table.get(key) or MESSAGES[DEFAULT_LANGUAGE][key]
    escaped = {
        name: value if isinstance(value, Safe) else html.escape(str(value), quote=False)
        for name, value in values.items()
    }
    return Safe(template.format(**escaped))


_TAG = re.compile(r"<[^>]+>")


def plain(text: str, limit: int = 200) -> str:
    """A message as plain text (button answers show no HTML), within `limit` characters."""
    shown = html.unescape(_TAG.sub("", text))
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


STATES_ID = {
    "draft": "draf", "submitted": "menunggu editor", "in_editing": "sedang diedit",
    "awaiting_approval": "menunggu persetujuan pejabat", "approved": "disetujui, menunggu terbit",
    "published": "sudah terbit", "rejected": "ditolak",
    "returned_to_officer": "dikembalikan ke petugas",
    "publish_failed": "gagal terbit", "cancelled": "dibatalkan",
}  # fmt: skip
STATES_EN = {
    "draft": "draft", "submitted": "waiting for an editor", "in_editing": "being edited",
    "awaiting_approval": "waiting for an official", "approved": "approved, to be published",
    "published": "published", "rejected": "rejected",
    "returned_to_officer": "returned to the officer",
    "publish_failed": "publishing failed", "cancelled": "cancelled",
}  # fmt: skip
DONE_ID = {
    "create": "membuat draf", "add_media": "menambah berkas", "update_draft": "melengkapi draf",
    "submit": "mengirim", "cancel": "membatalkan", "claim": "mengambil", "edit": "mengedit",
    "forward": "mengajukan", "return_to_officer": "mengembalikan", "approve": "menyetujui",
    "reject": "menolak", "request_revision": "meminta revisi", "mark_published": "menerbitkan",
    "mark_publish_failed": "gagal menerbitkan", "retry_publish": "mencoba terbit lagi",
}  # fmt: skip
DONE_EN = {
    "create": "created the draft", "add_media": "added a file",
    "update_draft": "completed the draft",
    "submit": "submitted", "cancel": "cancelled", "claim": "claimed", "edit": "edited",
    "forward": "forwarded", "return_to_officer": "returned", "approve": "approved",
    "reject": "rejected", "request_revision": "asked for a revision", "mark_published": "published",
    "mark_publish_failed": "failed to publish", "retry_publish": "retried publishing",
}  # fmt: skip
PASSIVE_ID = {
    "create": "dibuat", "add_media": "diubah", "update_draft": "diubah", "submit": "dikirim",
    "cancel": "dibatalkan", "claim": "diambil", "edit": "diedit", "forward": "diajukan",
    "return_to_officer": "dikembalikan", "approve": "disetujui", "reject": "ditolak",
    "request_revision": "diminta revisi", "mark_published": "diterbitkan",
    "mark_publish_failed": "gagal diterbitkan", "retry_publish": "dijadwalkan terbit ulang",
}  # fmt: skip
PASSIVE_EN = {
    "create": "created", "add_media": "changed", "update_draft": "changed", "submit": "submitted",
    "cancel": "cancelled", "claim": "claimed", "edit": "edited", "forward": "forwarded",
    "return_to_officer": "returned", "approve": "approved", "reject": "rejected",
    "request_revision": "sent back for revision", "mark_published": "published",
    "mark_publish_failed": "failed to publish", "retry_publish": "queued again",
}  # fmt: skip
COMMANDS_ID = {
    "bantuan": "Bantuan", "riwayat": "Riwayat item: /riwayat ID", "bahasa": "Bahasa: id atau en",
    "status": "Status kiriman saya", "baru": "Mulai draf baru", "bidang": "Atur bidang draf",
    "tanggal": "Atur tanggal kegiatan", "antrian": "Antrian item", "pratinjau": "Pratinjau item",
    "judul": "Ubah judul", "isi": "Ubah isi berita", "sampul": "Pilih foto sampul",
    "hapus": "Hapus media", "urut": "Urutkan media", "kategori": "Atur kategori",
    "tag": "Atur tag", "jadwal": "Jadwalkan terbit", "ajukan": "Ajukan ke pejabat",
    "pengguna": "Kelola pengguna", "laporan": "Laporan SOP",
}  # fmt: skip
COMMANDS_EN = {
    "bantuan": "Help", "riwayat": "Item history: /riwayat ID", "bahasa": "Language: id or en",
    "status": "My items", "baru": "Start a new draft", "bidang": "Set the draft's section",
    "tanggal": "Set the activity date", "antrian": "Queue", "pratinjau": "Preview an item",
    "judul": "Set the title", "isi": "Set the body", "sampul": "Choose the cover photo",
    "hapus": "Remove media", "urut": "Reorder media", "kategori": "Set the category",
    "tag": "Set tags", "jadwal": "Schedule publishing", "ajukan": "Forward to the officials",
    "pengguna": "Manage people", "laporan": "SOP report",
}  # fmt: skip
EDITS_ID = {
    "judul": "judul",
    "isi": "isi",
    "kategori": "kategori",
    "tag": "tag",
    "sampul": "sampul",
    "hapus": "media",
    "urut": "urutan media",
    "jadwal": "jadwal",
}
EDITS_EN = {
    "judul": "title",
    "isi": "body",
    "kategori": "category",
    "tag": "tags",
    "sampul": "cover",
    "hapus": "media",
    "urut": "media order",
    "jadwal": "schedule",
}

ID: dict[str, str] = {
    "system": "sistem",
    "start": "Halo, {name}! Saya Warta, bot berita kantor.",
    "access.unknown": "Maaf, Anda belum terdaftar di Warta ({office}).\n"
    "Minta admin kantor mendaftarkan ID Telegram Anda: <code>{id}</code>",
    "access.unknown_short": "Anda belum terdaftar. Kirim /start untuk melihat ID Anda.",
    "help.petugas": "<b>Petugas</b>: kirim foto, album, dokumen atau video kegiatan dengan "
    "keterangan. Teks biasa menambah keterangan. Tekan <b>Kirim</b> bila lengkap.\n"
    "/status kiriman Anda · /baru draf baru · /bidang NAMA · /tanggal 2026-11-25",
    "help.editor": "<b>Editor</b>: tekan <b>Ambil</b> pada kartu kiriman, lalu\n"
    "/judul ID teks · /isi ID teks · /sampul ID N · /hapus ID N · /urut ID 3 1 2\n"
    "/kategori ID nama · /tag ID a, b · /jadwal ID 2026-12-01 09:00\n"
    "/ajukan ID\n"
    "Atau balas kartunya: baris pertama jadi judul, sisanya isi.",
    "help.pejabat": "<b>Pejabat</b>: pada pratinjau tekan ✅ Setujui, ❌ Tolak (dengan alasan) "
    "atau ✏️ Revisi (dengan catatan).",
    "help.admin": "<b>Admin</b>: /pengguna daftar · /pengguna tambah ID PERAN NAMA · "
    "/pengguna peran ID PERAN · /pengguna nonaktif ID",
    "help.kepala": "<b>Kepala Dinas</b>: menerima eskalasi keterlambatan.",
    "help.antrian": "/antrian menampilkan yang menunggu",
    "help.pratinjau": "/pratinjau ID pratinjau item",
    "help.laporan": "/laporan [minggu|bulan] laporan SOP",
    "help.everyone": "/riwayat ID riwayat item · /bahasa id|en · /bantuan",
    "hint.use_commands": "Gunakan perintah; lihat /bantuan.",
    "inbox.unreadable": "Maaf, jenis pesan ini tidak dikenal oleh Warta. Kirim foto, video, "
                        "dokumen atau teks.",
    "notify.inbox.unreadable": "⚠️ Warta menerima pembaruan Telegram yang tidak bisa dibaca "
                               "({kind}, #{update_id}); disimpan dan dilewati. Periksa versi "
                               "server Bot API.",
    "hint.unknown_command": "Perintah tidak dikenal. Lihat /bantuan.",
    "hint.unsupported": "Jenis pesan ini tidak bisa diterima. "
    "Kirim foto, video, dokumen atau teks.",
    "draft.summary": "📝 <b>Draf #{id}</b> ({state})\n{media}\n"
    "Bidang: {section} · Tanggal: {date}\n"
    "Keterangan: {description}",
    "draft.no_description": "(belum ada)",
    "item.media_counts": "📷 {photos} foto · 📄 {documents} dokumen · 🎬 {videos} video",
    "item.untitled": "(belum berjudul)",
    "item.card": "<b>#{id} {title}</b>\n{body}\n\n{media}\nPetugas: {officer} ({section}) · "
    "Tanggal: {date}\nEditor: {editor} · Kategori: {category} · Tag: {tags}\n"
    "Status: <b>{state}</b>",
    "item.published_at": "🌐 Terbit: {url}",
    "item.last_note": "Catatan: {note}",
    "item.decided": "Diputuskan oleh {by}, {at}",
    "item.documents": "Dokumen: {names}",
    "btn.submit": "📤 Kirim",
    "btn.add_note": "✍️ Tambah keterangan",
    "btn.pick_date": "📅 Pilih bidang/tanggal",
    "btn.cancel": "🗑 Batal",
    "btn.claim": "✋ Ambil",
    "btn.preview": "👁 Pratinjau",
    "btn.forward": "📨 Ajukan",
    "btn.return_to_officer": "↩️ Kembalikan",
    "btn.approve": "✅ Setujui",
    "btn.reject": "❌ Tolak",
    "btn.request_revision": "✏️ Revisi",
    "btn.retry_publish": "🔁 Terbitkan lagi",
    "ask.placeholder": "Tulis di sini…",
    "ask.note": "Tulis keterangan tambahan untuk draf #{id}:",
    "ask.return_to_officer": "Tulis catatan untuk petugas (apa yang perlu dilengkapi) untuk #{id}:",
    "ask.reject": "Tulis alasan penolakan #{id}:",
    "ask.request_revision": "Tulis catatan revisi untuk editor, #{id}:",
    "officer.only_officers": "Hanya petugas yang dapat mengirim bahan berita.",
    "officer.submitted": "📤 Kiriman #{id} sudah diteruskan ke Tim IT.",
    "officer.cancelled": "🗑 Draf #{id} dibatalkan.",
    "officer.pick_date": "Tanggal kegiatan dan bidang untuk #{id}? "
    "(atau /tanggal 2026-11-25, /bidang Nama Bidang)",
    "editor.claimed": "Anda mengambil #{id}.",
    "editor.commands": "Edit #{id}: /judul {id} … · /isi {id} … · /sampul {id} N · "
    "/kategori {id} … · "
    "/tag {id} a, b · /pratinjau {id} · /ajukan {id}\n"
    "Atau balas kartu di atas: baris pertama jadi judul, sisanya isi.",
    "editor.saved": "✔️ #{id}: {what} disimpan.",
    "editor.forwarded": "📨 #{id} diajukan ke pejabat.",
    "editor.returned": "↩️ #{id} dikembalikan ke petugas.",
    "editor.retrying": "🔁 #{id} dijadwalkan terbit lagi.",
    "official.approved": "✅ #{id} disetujui; segera terbit.",
    "official.rejected": "❌ #{id} ditolak; petugas dan editor diberi tahu.",
    "official.revision_asked": "✏️ Revisi #{id} diminta; editor diberi tahu.",
    "status.header": "<b>Kiriman Anda</b>",
    "status.line": "#{id} {title} — {state}, sejak {waited}",
    "status.empty": "Belum ada kiriman. Kirim foto atau dokumen kegiatan untuk memulai.",
    "queue.header": "<b>Antrian</b>",
    "queue.line": "#{id} {title} — {state} ({who}, sejak {since})",
    "queue.empty": "Antrian kosong.",
    "history.header": "<b>Riwayat #{id}</b> — {state}",
    "history.line": "{at} · {who} {action}{note}",
    "people.header": "<b>Pengguna</b>",
    "people.line": "{name} — <code>{id}</code> — {roles}{active}",
    "people.inactive": " (nonaktif)",
    "people.saved": "✔️ {name}: {roles}{active}",
    "language.set": "Bahasa diatur ke Bahasa Indonesia.",
    "time.minutes": "{n} menit",
    "time.hours": "{h} jam {m} menit",
    "time.days": "{d} hari {h} jam",
    "error.conflict": "Sudah {action} oleh {by} pada {at}.",
    "error.wrong_state": "Tidak bisa: item sedang {state}.",
    "error.not_allowed": "Maaf, Anda tidak berwenang untuk itu.",
    "error.not_yours": "Maaf, item ini bukan milik/tanggungan Anda.",
    "error.missing_note": "Alasan atau catatan wajib diisi.",
    "error.incomplete.content": "Draf masih kosong: kirim foto, dokumen atau keterangan dulu.",
    "error.incomplete.title": "Judul belum diisi: /judul ID teks.",
    "error.incomplete.body": "Isi berita belum diisi: /isi ID teks.",
    "error.incomplete.title,body": "Judul dan isi belum diisi: /judul ID … dan /isi ID ….",
    "error.not_found": "Item tidak ditemukan.",
    "error.not_registered": "Anda belum terdaftar.",
    "error.stale": "Tombol ini sudah tidak berlaku.",
    "error.generic": "Maaf, terjadi kesalahan. Silakan coba lagi sebentar lagi.",
    "error.invalid.title": "Judul harus 1–300 karakter.",
    "error.invalid.body": "Isi berita tidak boleh kosong.",
    "error.invalid.cover": "Sampul harus salah satu foto item ini.",
    "error.invalid.media": "Nomor media tidak ada; lihat /pratinjau.",
    "error.invalid.order": "Setiap nomor media hanya boleh sekali.",
    "error.invalid.note": "Catatan terlalu panjang (maks. 2000 karakter).",
    "error.invalid.role": "Peran tidak dikenal: petugas, editor, pejabat, admin, kepala.",
    "error.invalid.telegram_id": "ID Telegram tidak valid atau sudah terdaftar.",
    "error.invalid.name": "Nama wajib diisi.",
    "error.invalid.language": "Bahasa yang tersedia: id, en.",
    "error.invalid.schedule": "Format jadwal: /jadwal ID 2026-12-01 09:00",
    "error.invalid.command": "Perintah tidak dikenal. Lihat /bantuan.",
    "error.invalid.token": "Token bot belum diatur.",
    "error.invalid.value": "Nilai tidak valid.",
    "media.empty": "Berkas kosong; kirim ulang.",
    "media.too_large": "Berkas terlalu besar (maks. {limit} MB). Kecilkan atau bagi berkasnya.",
    "media.too_large_to_download": "Berkas di atas {limit} MB tidak bisa diambil bot. Kirim versi "
    "lebih kecil, atau serahkan langsung ke Tim IT.",
    "media.unsupported_type": "Jenis berkas tidak diterima ({detected}). Kirim foto (JPG/PNG), "
    "video (MP4), PDF, Word, Excel atau PowerPoint.",
    "media.broken_file": "Berkas rusak atau tidak lengkap; kirim ulang.",
    "media.broken_image": "Foto rusak atau tidak lengkap; kirim ulang.",
    "media.image_too_big": "Gambar terlalu besar resolusinya; kirim sebagai foto biasa.",
    "usage.riwayat": "Cara pakai: /riwayat ID",
    "usage.bahasa": "Cara pakai: /bahasa id atau /bahasa en",
    "usage.pengguna": "Cara pakai: /pengguna daftar · /pengguna tambah ID PERAN NAMA · "
    "/pengguna peran ID PERAN · /pengguna nonaktif ID · /pengguna aktif ID",
    "usage.pratinjau": "Cara pakai: /pratinjau ID",
    "usage.ajukan": "Cara pakai: /ajukan ID",
    "usage.bidang": "Cara pakai: /bidang Nama Bidang",
    "usage.tanggal": "Cara pakai: /tanggal 2026-11-25",
    "usage.judul": "Cara pakai: /judul ID judul berita",
    "usage.isi": "Cara pakai: /isi ID isi berita",
    "usage.kategori": "Cara pakai: /kategori ID nama",
    "usage.tag": "Cara pakai: /tag ID a, b",
    "usage.sampul": "Cara pakai: /sampul ID N (nomor foto di pratinjau)",
    "usage.hapus": "Cara pakai: /hapus ID N",
    "usage.urut": "Cara pakai: /urut ID 3 1 2",
    "usage.jadwal": "Cara pakai: /jadwal ID 2026-12-01 09:00",
    "notify.item.claim": "✋ Kiriman #{id} sedang diedit oleh {actor}.",
    "notify.item.return_to_officer": "↩️ Kiriman #{id} dikembalikan oleh {actor}: {note}\n"
    "Lengkapi lalu tekan Kirim.",
    "notify.item.approve": "✅ #{id} {title} disetujui oleh {actor}; segera terbit.",
    "notify.item.reject": "❌ #{id} {title} ditolak oleh {actor}. Alasan: {note}",
    "notify.item.request_revision": "✏️ {actor} meminta revisi #{id} {title}: {note}",
    "notify.item.mark_published": "🌐 #{id} {title} sudah terbit: {url}",
    "notify.item.mark_publish_failed": "⚠️ #{id} {title} gagal terbit: {note}",
    "notify.deadline.overdue": "⏰ #{id} {title} terlambat di tahap {stage_label} "
    "(batas {due}, lewat {late}).",
    "notify.deadline.reminder": "⏰ Pengingat: #{id} {title} masih di tahap {stage_label} "
    "(lewat {late} dari batas).",
    "notify.deadline.escalation": "🚨 Eskalasi: #{id} {title} tertahan di tahap {stage_label} "
    "(lewat {late} dari batas).",
    "notify.digest.daily": "🗂 <b>Menunggu hari ini</b>\n{lines}",
    "notify.publish.warnings": "⚠️ #{id} terbit ({url}) dengan catatan: {warnings}",
    "notify.publish.config_problem": "⚠️ Situs web menolak Warta karena masalah pengaturan: "
    "{reason}. Berita yang sudah disetujui tetap menunggu dan terbit otomatis setelah diperbaiki.",
    "report.text": "{text}",
    "report.chart": "Grafik waktu per tahap dibanding batas SOP",
    "error.invalid.section": "Bidang tidak dikenal atau terlalu panjang (maks. 200 karakter).",
    "error.invalid.period": "Periode: minggu, bulan, minggu-lalu, bulan-lalu atau 2026-11.",
    "digest.line": "#{id} {title} — {stage_label}, sejak {since}",
    "digest.more": "… dan {n} lagi (/antrian)",
    "lines.more": "… dan {n} lagi",
    "error.invalid.category": "Kategori paling panjang 200 karakter.",
    "error.invalid.tags": "Tag paling banyak 20, masing-masing paling panjang 60 karakter.",
}

EN: dict[str, str] = {
    "system": "the system",
    "start": "Hello, {name}! I am Warta, the office news bot.",
    "access.unknown": "Sorry, you are not registered in Warta ({office}).\n"
    "Ask the office admin to register your Telegram id: <code>{id}</code>",
    "access.unknown_short": "You are not registered. Send /start to see your id.",
    "help.petugas": "<b>Officer</b>: send photos, albums, documents or videos of an activity with "
    "a caption. Plain text adds to the description. Press <b>Submit</b> when done.\n"
    "/status your items · /baru new draft · /bidang NAME · /tanggal 2026-11-25",
    "help.editor": "<b>Editor</b>: press <b>Claim</b> on a submission card, then\n"
    "/judul ID text · /isi ID text · /sampul ID N · /hapus ID N · /urut ID 3 1 2\n"
    "/kategori ID name · /tag ID a, b · /jadwal ID 2026-12-01 09:00\n"
    "/ajukan ID\n"
    "Or reply to its card: the first line becomes the title, the rest the body.",
    "help.pejabat": "<b>Official</b>: on a preview press ✅ Approve, ❌ Reject (with a reason) "
    "or ✏️ Revise (with a note).",
    "help.admin": "<b>Admin</b>: /pengguna list · /pengguna add ID ROLE NAME · "
    "/pengguna role ID ROLE · /pengguna deactivate ID",
    "help.kepala": "<b>Head of Office</b>: receives late-stage escalations.",
    "help.antrian": "/antrian shows what waits",
    "help.pratinjau": "/pratinjau ID previews an item",
    "help.laporan": "/laporan [minggu|bulan] SOP report",
    "help.everyone": "/riwayat ID item history · /bahasa id|en · /bantuan",
    "hint.use_commands": "Please use a command; see /bantuan.",
    "inbox.unreadable": "Sorry, Warta does not know this kind of message. Send photos, videos, "
                        "documents or text.",
    "notify.inbox.unreadable": "⚠️ Warta received a Telegram update it cannot read "
                               "({kind}, #{update_id}); it was stored and skipped. Check the "
                               "Bot API server's version.",
    "hint.unknown_command": "Unknown command. See /bantuan.",
    "hint.unsupported": "This kind of message cannot be used. "
    "Send photos, videos, documents or text.",
    "draft.summary": "📝 <b>Draft #{id}</b> ({state})\n{media}\nSection: {section} · Date: {date}\n"
    "Description: {description}",
    "draft.no_description": "(none yet)",
    "item.media_counts": "📷 {photos} photos · 📄 {documents} documents · 🎬 {videos} videos",
    "item.untitled": "(untitled)",
    "item.card": "<b>#{id} {title}</b>\n{body}\n\n{media}\nOfficer: {officer} ({section}) · "
    "Date: {date}\nEditor: {editor} · Category: {category} · Tags: {tags}\n"
    "Status: <b>{state}</b>",
    "item.published_at": "🌐 Published: {url}",
    "item.last_note": "Note: {note}",
    "item.decided": "Decided by {by}, {at}",
    "item.documents": "Documents: {names}",
    "btn.submit": "📤 Submit",
    "btn.add_note": "✍️ Add description",
    "btn.pick_date": "📅 Section/date",
    "btn.cancel": "🗑 Cancel",
    "btn.claim": "✋ Claim",
    "btn.preview": "👁 Preview",
    "btn.forward": "📨 Forward",
    "btn.return_to_officer": "↩️ Return",
    "btn.approve": "✅ Approve",
    "btn.reject": "❌ Reject",
    "btn.request_revision": "✏️ Revise",
    "btn.retry_publish": "🔁 Publish again",
    "ask.placeholder": "Type here…",
    "ask.note": "Type more description for draft #{id}:",
    "ask.return_to_officer": "Type a note for the officer (what to add) for #{id}:",
    "ask.reject": "Type the reason for rejecting #{id}:",
    "ask.request_revision": "Type the revision note for the editor, #{id}:",
    "officer.only_officers": "Only officers can send news material.",
    "officer.submitted": "📤 Submission #{id} has been sent to the IT team.",
    "officer.cancelled": "🗑 Draft #{id} cancelled.",
    "officer.pick_date": "Activity date and section for #{id}? "
    "(or /tanggal 2026-11-25, /bidang Section Name)",
    "editor.claimed": "You claimed #{id}.",
    "editor.commands": "Edit #{id}: /judul {id} … · /isi {id} … · /sampul {id} N · "
    "/kategori {id} … · "
    "/tag {id} a, b · /pratinjau {id} · /ajukan {id}\n"
    "Or reply to the card above: the first line becomes the title, the rest the body.",
    "editor.saved": "✔️ #{id}: {what} saved.",
    "editor.forwarded": "📨 #{id} forwarded to the officials.",
    "editor.returned": "↩️ #{id} returned to the officer.",
    "editor.retrying": "🔁 #{id} queued for publishing again.",
    "official.approved": "✅ #{id} approved; it will be published shortly.",
    "official.rejected": "❌ #{id} rejected; the officer and editor are told.",
    "official.revision_asked": "✏️ Revision of #{id} requested; the editor is told.",
    "status.header": "<b>Your items</b>",
    "status.line": "#{id} {title} — {state}, for {waited}",
    "status.empty": "No items yet. Send photos or documents of an activity to start.",
    "queue.header": "<b>Queue</b>",
    "queue.line": "#{id} {title} — {state} ({who}, since {since})",
    "queue.empty": "The queue is empty.",
    "history.header": "<b>History of #{id}</b> — {state}",
    "history.line": "{at} · {who} {action}{note}",
    "people.header": "<b>People</b>",
    "people.line": "{name} — <code>{id}</code> — {roles}{active}",
    "people.inactive": " (inactive)",
    "people.saved": "✔️ {name}: {roles}{active}",
    "language.set": "Language set to English.",
    "time.minutes": "{n} min",
    "time.hours": "{h} h {m} min",
    "time.days": "{d} days {h} h",
    "error.conflict": "Already {action} by {by} at {at}.",
    "error.wrong_state": "Not possible: the item is {state}.",
    "error.not_allowed": "Sorry, you are not allowed to do that.",
    "error.not_yours": "Sorry, this item is not yours to act on.",
    "error.missing_note": "A reason or note is required.",
    "error.incomplete.content": "The draft is empty: "
    "send photos, documents or a description first.",
    "error.incomplete.title": "No title yet: /judul ID text.",
    "error.incomplete.body": "No body yet: /isi ID text.",
    "error.incomplete.title,body": "No title and body yet: /judul ID … and /isi ID ….",
    "error.not_found": "Item not found.",
    "error.not_registered": "You are not registered.",
    "error.stale": "This button is no longer valid.",
    "error.generic": "Sorry, something went wrong. Please try again shortly.",
    "error.invalid.title": "The title must be 1–300 characters.",
    "error.invalid.body": "The body must not be empty.",
    "error.invalid.cover": "The cover must be one of this item's photos.",
    "error.invalid.media": "No such media number; see /pratinjau.",
    "error.invalid.order": "Each media number may appear only once.",
    "error.invalid.note": "The note is too long (max. 2000 characters).",
    "error.invalid.role": "Unknown role: petugas, editor, pejabat, admin, kepala.",
    "error.invalid.telegram_id": "Telegram id is invalid or already registered.",
    "error.invalid.name": "A name is required.",
    "error.invalid.language": "Available languages: id, en.",
    "error.invalid.schedule": "Schedule format: /jadwal ID 2026-12-01 09:00",
    "error.invalid.command": "Unknown command. See /bantuan.",
    "error.invalid.token": "The bot token is not set.",
    "error.invalid.value": "Invalid value.",
    "media.empty": "The file is empty; please send it again.",
    "media.too_large": "The file is too large (max. {limit} MB). Shrink or split it.",
    "media.too_large_to_download": "Files over {limit} MB cannot be fetched by the bot. Send a "
    "smaller version, or hand it to the IT team directly.",
    "media.unsupported_type": "This file type is not accepted ({detected}). Send photos (JPG/PNG), "
    "videos (MP4), PDF, Word, Excel or PowerPoint.",
    "media.broken_file": "The file is damaged or incomplete; please send it again.",
    "media.broken_image": "The photo is damaged or incomplete; please send it again.",
    "media.image_too_big": "The image resolution is too large; send it as a normal photo.",
    "usage.riwayat": "Usage: /riwayat ID",
    "usage.bahasa": "Usage: /bahasa id or /bahasa en",
    "usage.pengguna": "Usage: /pengguna list · /pengguna add ID ROLE NAME · "
    "/pengguna role ID ROLE · /pengguna deactivate ID · /pengguna activate ID",
    "usage.pratinjau": "Usage: /pratinjau ID",
    "usage.ajukan": "Usage: /ajukan ID",
    "usage.bidang": "Usage: /bidang Section Name",
    "usage.tanggal": "Usage: /tanggal 2026-11-25",
    "usage.judul": "Usage: /judul ID title",
    "usage.isi": "Usage: /isi ID body text",
    "usage.kategori": "Usage: /kategori ID name",
    "usage.tag": "Usage: /tag ID a, b",
    "usage.sampul": "Usage: /sampul ID N (photo number in the preview)",
    "usage.hapus": "Usage: /hapus ID N",
    "usage.urut": "Usage: /urut ID 3 1 2",
    "usage.jadwal": "Usage: /jadwal ID 2026-12-01 09:00",
    "notify.item.claim": "✋ Submission #{id} is being edited by {actor}.",
    "notify.item.return_to_officer": "↩️ Submission #{id} was returned by {actor}: {note}\n"
    "Complete it, then press Submit.",
    "notify.item.approve": "✅ #{id} {title} approved by {actor}; it will be published shortly.",
    "notify.item.reject": "❌ #{id} {title} rejected by {actor}. Reason: {note}",
    "notify.item.request_revision": "✏️ {actor} asks for a revision of #{id} {title}: {note}",
    "notify.item.mark_published": "🌐 #{id} {title} is published: {url}",
    "notify.item.mark_publish_failed": "⚠️ #{id} {title} could not be published: {note}",
    "notify.deadline.overdue": "⏰ #{id} {title} is late in stage {stage_label} "
    "(due {due}, {late} over).",
    "notify.deadline.reminder": "⏰ Reminder: #{id} {title} is still in stage {stage_label} "
    "({late} over the limit).",
    "notify.deadline.escalation": "🚨 Escalation: #{id} {title} is stuck in stage {stage_label} "
    "({late} over the limit).",
    "notify.digest.daily": "🗂 <b>Waiting today</b>\n{lines}",
    "notify.publish.warnings": "⚠️ #{id} was published ({url}) with warnings: {warnings}",
    "notify.publish.config_problem": "⚠️ The website refused Warta because of a configuration "
    "problem: {reason}. Approved items wait and publish automatically once it is fixed.",
    "report.text": "{text}",
    "report.chart": "Time per stage against the SOP limits",
    "error.invalid.section": "Unknown or too long section (max. 200 characters).",
    "error.invalid.period": "Period: minggu, bulan, minggu-lalu, bulan-lalu or 2026-11.",
    "digest.line": "#{id} {title} — {stage_label}, since {since}",
    "digest.more": "… and {n} more (/antrian)",
    "lines.more": "… and {n} more",
    "error.invalid.category": "The category may be at most 200 characters.",
    "error.invalid.tags": "At most 20 tags, each at most 60 characters.",
}

for _prefix, _id, _en in (
    ("state", STATES_ID, STATES_EN),
    ("done", DONE_ID, DONE_EN),
    ("passive", PASSIVE_ID, PASSIVE_EN),
    ("cmd", COMMANDS_ID, COMMANDS_EN),
    ("edit", EDITS_ID, EDITS_EN),
):
    ID.update({f"{_prefix}.{key}": value for key, value in _id.items()})
    EN.update({f"{_prefix}.{key}": value for key, value in _en.items()})

MESSAGES: dict[str, dict[str, str]] = {"id": ID, "en": EN}
