"""Boilerplate and markup removal for article text.

Everything here is a pure function of strings, so the offsets that chunks and
citations carry refer to the text these functions return.
"""

from __future__ import annotations

import re
import unicodedata

# Lines that are never part of an article when they stand alone.
_JUNK_LINE = re.compile(
    r"""^\W*(
        source\ link | rate\ this\ post | leave\ a\ (comment|reply) | share\ this(\ article|\ story)?:? |
        advertisement | advertising | ad | sponsored(\ content)? | related(\ articles|\ stories|\ content)?:? |
        share\ on\ \w+ |
        you\ may\ also\ like:? | recommended(\ for\ you)?:? | comments? | print | email | tweet | facebook |
        \d+\s+comments? | skip\ to\ (main\ )?content | back\ to\ top | loading\.* | image:.* | photo:.* |
        (video\ )?ad\ feedback\b.* | (\d+\.\ )?how\ relevant\ is\ this\ ad\ to\ you\?? |
        (story|article|content)\ continues\ (below|after)(\ (the\ )?(advertisement|ad))?\.? |
        continue\ reading(\ below|\ the\ (main\ )?story)? | scroll\ (down\ )?to\ continue(\ reading)? |
        up\ next | (what'?s\ )?trending(\ now)? | most\ (read|popular|viewed) | prev(ious)?\ next |
        share\ (this\ )?(article|story|page|post|video)?\ ?(on|via|with)\ .{1,30} |
        copy\ (the\ )?link | link\ copied(\ to\ clipboard)? |
        ((share|facebook|twitter|x|email|e-mail|whatsapp|linkedin|reddit|pinterest|flipboard|messenger|print|
          copy\ link|tweet|comments?)(\W+|$)){2,} |
        (we|this\ (web)?site)\ uses?\ cookies\b.* | (accept|allow|reject)\ (all\ )?cookies.* |
        (manage\ )?(cookie|privacy)\ (preferences|settings|choices) |
        if\ you\ wish\ to\ object\ to\ the\ use\ of\ your\ data\b.* |
        (photo|image|picture|graphic|illustration)s?\ credits?:.* | credits?:\ .{1,60} |
        \(?(reuters|ap|afp|epa|getty\ images|bloomberg)(\ file)?\ photos?\)? | getty\ images | shutterstock | istock(photo)?
    )\W*$""",
    re.IGNORECASE | re.VERBOSE,
)

# Link teasers and promotions: a whole line that only points elsewhere ("READ MORE: <another headline>",
# "Related:", "Watch:", "Follow every game: ..."), at most 40 words.
_TEASER_LINE = re.compile(
    r"""^\W*(read\ more\b(?!\ than\b) | follow\ (every\ game|live\ updates|along)\b | more\ (coverage|stories|news)\ from\b |
        (related|more|see\ also|also\ read|watch|listen|story|learn\ more)\s*:\s*(?=(?-i:[A-Z0-9'‘"“])|$))""",
    re.IGNORECASE | re.VERBOSE,
)
# Sign-up, subscription and social prompts, tested sentence by sentence. A sentence is one only when it has no
# quotation marks and no reporting verb, so that "Millions subscribe to her newsletter, she said." stays.
_PROMPTS = [re.compile(p, re.IGNORECASE) for p in (
    r"\bnewsletters?\b.*\b(sign(ing)? up|subscribe|(in|to) your inbox|delivered|receive|provides you)\b"
    r"|\b(sign(ing)? up|subscribe|(in|to) your inbox|delivered|receive)\b.*\bnewsletters?\b",
    r"^\W*(sign up|subscribe)\b|(^\W*|[:?!,]\s*|\b(you can|please)\s+)(sign up|subscribe)\b.{0,60}\b(here|today|now|for free)\b",
    r"\b(support(ing)?|empower)\b.{0,30}\bjournalism\b|\bbecome a (digital )?subscriber\b|\bconsider a subscription\b"
    r"|^\W*(just |only )?for ([\w ]{0,25} )?subscribers\b|\bare for [\w ]{0,25}subscribers\b|\bsubscriber[- ]only\b",
    r"^\W*follow\b.{0,60}\bon (twitter|x|facebook|instagram|threads|tiktok|bluesky|linkedin)\b|^\W*follow us\b"
    r"|^\W*(click|tap) here\b",
)]
# A reporter's contact line: a sentence that starts "Follow/Reach/Contact/Email/Call/Send" and gives a social media
# handle, or an e-mail address in a line of its own or one that speaks of reporting ("covers", "reporter", "tips").
_CONTACT = re.compile(r"^\W*(?:Follow|Reach|Contact|Email|E-mail|Call|Send)\b")
_HANDLE = re.compile(r"(?<![\w.])@\w{2,}")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.\w[\w.]*")
_NEWSROOM = re.compile(r"\b(covers|reporter|columnist|writer|editor|correspondent|producer|journalism|twitter|tips?)\b",
                       re.IGNORECASE)
_REPORTED = re.compile(r"[“”\"]|\b(said|says|told|tells|reported|according to)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]\s+")
# a sentence can only be a prompt if it holds one of these, lower-cased (plain substring tests: a regex scan of a
# 2 MB line costs seconds)
_PROMPT_HINTS = ("newsletter", "sign up", "signing up", "subscri", "inbox", "receive", "delivered", "provides you",
                 "journalism", "follow", "click here", "tap here", "reach", "contact", "mail", "call", "send", "@")
_MAX_PROMPT_CHARS = 600  # longer sentences are never prompts (and the patterns' ".*" stays linear on huge lines)
_LEAD_WORDS = 12  # a prompt after at most this many words ("Gifts got you stumped?", a one-line bio) takes the line

# Image credits inside a line: "<caption>. Brandon Bell/Getty Images", "... Yui Mok/Pool/AP <next caption>",
# "... Courtesy Eric Kolifrath" (at the end of a line). A credit follows a sentence's end or starts the line,
# and its last part is a picture agency, so "AC/DC", "24/7" and "Ipsos/Reuters poll" are left alone.
_AGENCY = (r"(Getty\ Images(\ (Europe|North\ America|South\ America|AsiaPac|Asia))?(\ for\ [A-Z][\w&-]*)?|AP|AFP|Reuters"
           r"|REUTERS|Shutterstock|EPA(-EFE)?|Bloomberg|Redux|ZUMA\ (Press|Wire)|Sipa(\ USA)?|Alamy(\ Stock\ Photo)?"
           r"|iStock(photo)?|USA\ Today\ Network|USA\ TODAY(\ Network|\ Sports)?|USA\ Today\ Sports|Imagn(\ Content\ Services)?"
           r"|Kobal|REX|PA\ Images|PA|Anadolu\ Agency|NurPhoto|SOPA\ Images|LightRocket|Xinhua|Pool|ASSOCIATED\ PRESS"
           r"|Associated\ Press|([A-Z][\w&-]*\ ){0,3}via\ (Getty\ Images|AP|Reuters|AFP))(/(File|FILE))?")
_NAME_WORD = r"(?:[A-Z]\.|Jr\.|Sr\.|[A-Z][\w'’&-]*)"
_NAME = rf"{_NAME_WORD}(?:\ (?:{_NAME_WORD}|de|da|del|der|van|von|la|le|al|bin)){{0,5}}"
_PART = r"[\w'’&-]+(?:\ [A-Z0-9][\w'’&-]*){0,4}"  # one part between slashes: "Orlando Sentinel", "dpa", "Royal Household 2023"
_CREDIT = re.compile(
    rf"(?:(?<=[.!?”\"’)])\ +|^){_NAME}(?:/{_PART})*/{_AGENCY}(?=\ +[A-Z“\"‘']|\s*$)(?!\ +(?:Poll|poll|Survey|survey)\b)",
    re.VERBOSE,
)
# "(AP Photo/Evan Vucci)", "(Reuters photo)", "(Image credit: Wikimedia Commons)" anywhere in a line
_PAREN_CREDIT = re.compile(r"\s*\((?:(?:AP|AFP|Reuters|REUTERS|EPA|Getty Images|Bloomberg)(?: [Ff]ile)? [Pp]hotos?"
                           r"(?:/[^()]{1,60})?|(?:[Pp]hoto|[Ii]mage)(?: credit)?: [^()]{1,60})\)")
_COURTESY = re.compile(r"(?:(?<=[.!?”\"’)])\s+|^)[Cc]ourtesy(?: of)? [A-Z][^.!?]{0,60}$")
_READ_MORE_TAIL = re.compile(r"(?<=[.!?”\"’)])\s+Read more\b(?! than\b).{0,140}$")
_PREV_NEXT = re.compile(r"\s+Prev\s+Next$")  # a gallery's buttons
_INLINE = (("(", _PAREN_CREDIT), ("/", _CREDIT), ("ourtesy", _COURTESY), ("Read more", _READ_MORE_TAIL), ("Next", _PREV_NEXT))

_COPYRIGHT_LEAD = re.compile(r"^(?:copyright\b|©|\(c\)|\d{4}(?:\s*[-–]\s*\d{4})?|[\s,])+", re.IGNORECASE)
_COPYRIGHT_TAIL = re.compile(
    r"\ball rights reserved\b|\bthis (material|article|content)\b|\||\.\s+(?=[A-Z])(?<!Inc\.\s)(?<!Ltd\.\s)(?<!Co\.\s)",
    re.IGNORECASE,
)
_RIGHTS = re.compile(r"all rights reserved|may not be (published|reproduced|redistributed)", re.IGNORECASE)
_DATE_PREFIX = re.compile(r"^\s*date\s*[:\-]?\s*(\d{4}-\d{2}-\d{2})\b[\s:\-|]*", re.IGNORECASE)

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")  # a regex: str.translate with a dict is 20x slower
_SPACES = re.compile(r" {2,}")


def normalize(text: str) -> str:
    """Unicode NFC, unified newlines, no zero-width characters, tidy blank lines."""
    text = _ZERO_WIDTH.sub("", unicodedata.normalize("NFC", text))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\t", " ")
    text = "\n".join(line.strip() for line in _SPACES.sub(" ", text).split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def split_date_prefix(line: str) -> tuple[str | None, str]:
    """``"date 2023-09-05 Title"`` -> ``("2023-09-05", "Title")``; lines without one are returned as they are."""
    match = _DATE_PREFIX.match(line)
    if not match:
        return None, line
    return match.group(1), line[match.end():].strip()


def copyright_owner(line: str) -> str | None:
    """The publisher named by a copyright notice, or None when the line is not one."""
    stripped = line.strip()
    if not re.match(r"^(copyright\b|©|\(c\))", stripped, re.IGNORECASE):
        return None
    if not re.search(r"©|\(c\)|\b(19|20)\d{2}\b", stripped, re.IGNORECASE) and not _RIGHTS.search(stripped):
        return None
    owner = _COPYRIGHT_TAIL.split(_COPYRIGHT_LEAD.sub("", stripped), maxsplit=1)[0].strip(" ,;:-")
    if not owner or _RIGHTS.search(owner) or len(owner) > 60 or len(owner.split()) > 7 or not re.search(r"[A-Za-z]", owner):
        return ""
    return owner if re.search(r"\b(Inc|Ltd|Co|Corp)\.$", owner) else owner.rstrip(".")


def _hinted(text: str) -> bool:
    lowered = text.lower()
    return any(hint in lowered for hint in _PROMPT_HINTS)


def _is_prompt(sentence: str, line: str) -> bool:
    """Whether one sentence of ``line`` is a sign-up, subscription, social or reporter-contact prompt."""
    if len(sentence) > _MAX_PROMPT_CHARS or _REPORTED.search(sentence):
        return False
    if _CONTACT.match(sentence) and (_HANDLE.search(sentence) or (
            _EMAIL.search(sentence) and (_NEWSROOM.search(line) or sentence.strip() == line.strip()))):
        return True
    return any(p.search(sentence) for p in _PROMPTS)


def prompt_start(line: str) -> int | None:
    """Where the prompts that end ``line`` begin: 0 when the whole line is one (its first prompt comes after at most
    :data:`_LEAD_WORDS` words), the offset of the first prompt sentence after real text, or None when there is none.
    "The owls were named Axl and Slash. For more odd news, sign up to the Tall Tales newsletter." keeps its first
    sentence."""
    if not _hinted(line):
        return None  # most lines: a few substring tests, no sentence splitting
    starts = [0] + [m.end() for m in _SENTENCE_END.finditer(line)]
    for start, end in zip(starts, starts[1:] + [len(line)]):
        if _hinted(line[start:end]) and _is_prompt(line[start:end], line):
            return 0 if len(line[:start].split()) <= _LEAD_WORDS else start
    return None


def strip_clutter(line: str) -> str | None:
    """One line without page clutter: None when the whole line is clutter (a junk line, a link teaser, a
    sign-up, social or contact prompt), else the line without image credits, trailing prompts and a trailing
    "Read more ..." link.
    A blank line stays blank. Real sentences that merely contain such words ("a campaign advertisement",
    "read more than 20 hours") are kept."""
    if not line:
        return line
    if _JUNK_LINE.match(line) or (_TEASER_LINE.match(line) and len(line.split()) <= 40):
        return None
    cut = prompt_start(line)
    if cut == 0:
        return None
    cleaned = line[:cut]
    for hint, pattern in _INLINE:  # each pattern only runs on lines holding its hint: the scans cost on huge lines
        if hint in cleaned:
            cleaned = pattern.sub("", cleaned)
    cleaned = cleaned.strip()
    return cleaned if cleaned or not line.strip() else None


def strip_boilerplate(text: str) -> tuple[str, str]:
    """Remove junk lines (anywhere when they stand alone), page clutter (:func:`strip_clutter`) and
    copyright trailers.

    Returns the cleaned text and the outlet named by a copyright notice ("" if none).
    """
    outlet = ""
    kept: list[str] = []
    for raw in text.split("\n"):
        line = strip_clutter(raw)
        if line is None:
            continue
        owner = copyright_owner(line)
        if owner is not None:
            outlet = outlet or owner
            continue
        kept.append(line)
    return normalize("\n".join(kept)), outlet


_MD_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL), r"\1"),  # fenced code: keep content
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), ""),  # images
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links -> text
    (re.compile(r"<[^>\n]+>"), ""),  # inline html tags
    (re.compile(r"^\s{0,3}#{1,6}\s*", re.MULTILINE), ""),  # heading markers
    (re.compile(r"^\s{0,3}>\s?", re.MULTILINE), ""),  # block quotes
    (re.compile(r"^\s*([-*+]|\d+\.)\s+", re.MULTILINE), ""),  # list markers
    (re.compile(r"^\s*([-*_]\s*){3,}$", re.MULTILINE), ""),  # horizontal rules
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])[*_](?!\s)(.+?)(?<!\s)[*_](?![\w*])"), r"\1"),  # italics
    (re.compile(r"`([^`]+)`"), r"\1"),  # inline code
]


def markdown_to_text(markdown: str) -> str:
    """Plain text from Markdown: markers, links and images removed, words kept."""
    text = markdown
    for pattern, repl in _MD_RULES:
        text = pattern.sub(repl, text)
    return normalize(text)


def strip_html(fragment: str) -> str:
    """Text of a small HTML fragment (a JSON field that holds markup)."""
    import html

    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", fragment)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</h\d>|</li>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return normalize(html.unescape(text))
