"""Short social messages ("halo", "terima kasih") that are not news material."""

from __future__ import annotations

import re

# Per language, the phrases people open or close a chat with. Matched on the whole
# message (after the forms of address below), so "halo, ini foto rapat" is still news.
GREETINGS: dict[str, frozenset[str]] = {
    "id": frozenset({
        "halo", "hallo", "helo", "hai", "hay", "permisi", "assalamualaikum",
        "assalamu alaikum", "assalamualaikum wr wb", "salam", "salam sejahtera",
        "selamat pagi", "selamat siang", "selamat sore", "selamat malam", "pagi", "siang",
        "sore", "malam", "terima kasih", "terimakasih", "makasih", "trims", "tks", "thx",
        "mksh", "terima kasih banyak", "ok", "oke", "baik", "siap", "sip", "mantap",
    }),
    "en": frozenset({
        "hi", "hello", "hey", "good morning", "good afternoon", "good evening", "thanks",
        "thank you", "thank you very much", "thanks a lot", "ok", "okay", "cheers",
    }),
}
# Forms of address that may follow or precede a greeting ("selamat pagi, Pak").
ADDRESS = frozenset({"pak", "bu", "bapak", "ibu", "mas", "mbak", "kak", "bang", "dik",
                     "semua", "tim", "admin", "bot", "warta", "sir", "madam", "all",
                     "team", "everyone", "ya", "yaa", "nya", "banyak"})
MAX_WORDS = 8
WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def is_greeting(text: str) -> bool:
    """Whether the whole message is only a greeting or thanks (in any known language)."""
    words = WORD.findall(text.casefold())
    if not words or len(words) > MAX_WORDS:
        return False
    if re.search(r"\d", text):  # a date, a count, a name with digits: material
        return False
    while words and words[-1] in ADDRESS:
        words.pop()
    while words and words[0] in ADDRESS:
        words.pop(0)
    phrase = " ".join(words)
    return any(phrase in phrases for phrases in GREETINGS.values())
