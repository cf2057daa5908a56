"""Follow-up questions into standalone queries: by the LLM when one is configured, else by a heuristic.

A question is rewritten with the conversation only when it cannot stand alone. ``looks_like_followup``
decides, from the question alone, in this order:

1. An elliptical opener ("what about X", "how about X", "what else", "anything else") continues the
   previous question: a follow-up.
2. A question that ends on a bare reporting verb ("what did the State Department say?", "how did
   they react?") leaves out what it is about: a follow-up.
3. A personal pronoun (he, she, they, him, her, his, them, their ...) with no capitalised name before
   it in the question has no antecedent of its own: a follow-up. "What did Blinken say about his
   trip?" is standalone: "his" is Blinken.
4. A question with an anchor of its own stands alone: a capitalised word that is not the first word
   (and not "I"), a number or year, or a quoted phrase. "it", "that" and "this" do not spoil an
   anchored question ("What is it like in Vladivostok in September?").
5. Without an anchor, a question stands alone only if it describes its subject in at least
   ``MIN_CONTENT_WORDS`` content words (stopwords, question words and quantifiers such as "many" do
   not count) and has no "it", "that", "this", "those", "there" ... to point back with.
   "How much did the repairs cost?" and "And the casualties?" lean on the conversation.

Standalone questions are returned unchanged and the LLM condenser is not called for them.

The heuristic rewrite of a follow-up: a leading "and/but/so/also/then" is dropped; the first singular
personal pronoun (he, she, him, her, his, hers) becomes the first person-like name (two or more
capitalised words, not after "the" or a preposition, so not "the State Department" nor "in North
Korea") of the recent user questions, else of the last answer; then the content words of the recent
user questions that the question lacks are appended in parentheses. "Recent user questions" are the
last user turn and, when that was itself a follow-up, the turns before it back to the last standalone
one (at most ``CONTEXT_TURNS``), so a chain of follow-ups keeps its topic and a new topic drops the old.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from rag.text import STOPWORDS, terms

log = logging.getLogger(__name__)

MIN_CONTENT_WORDS = 3  # an unanchored question needs this many content words to describe its own subject
CONTEXT_TURNS = 3  # at most this many recent user questions lend their words to a follow-up
Turn = tuple[str, str]  # (role, text) with role "user" or "assistant"

_LEAD = re.compile(r"^\s*(?:and|but|also|so|then|ok(?:ay)?|well)\b[\s,]*", re.I)
_ELLIPTIC = re.compile(r"^(?:what|how)\s+about\b|^(?:what|anything|who|where)\s+else\b", re.I)
_OPEN_ENDED = re.compile(r"\b(?:say|said|says|think|respond|react|reply|add|mean)\W*$", re.I)
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*")
_FOLLOWING = re.compile(r"[ \t]+([A-Za-z][A-Za-z'’\-]*)")
_NUMBER = re.compile(r"\d")
_QUOTED = re.compile(r"[\"“][^\"”]{3,}[\"”]")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_PERSONAL = _words("he she they him her his hers them their theirs himself herself themselves")
_POINTING = _words("it its itself that this these those there such same former latter")
_SINGULAR = _words("he she him her his hers")
_NOT_CONTENT = _words("many much else happen happened happening going thing things anything something")
_BEFORE_NON_PERSON = _words("the a an in at on to from into of about near across inside outside")
_NAME_PARTICLES = _words("de da del van von bin al der la le")


def normalize_history(history: Sequence[Any] | None) -> list[Turn]:
    """Accept (role, text) pairs, {"role", "content"} dicts (Gradio's messages) or (user, assistant) pairs.
    Text that is not valid Unicode (lone surrogates from a browser) has those characters replaced."""
    return [(role, text.encode("utf-8", "replace").decode("utf-8")) for role, text in _turns(history)]


def _turns(history: Sequence[Any] | None) -> list[Turn]:
    turns: list[Turn] = []
    for item in history or ():
        if isinstance(item, Mapping):
            content = item.get("content")
            if isinstance(content, list):  # multimodal content parts
                content = " ".join(str(p.get("text", "")) if isinstance(p, Mapping) else str(p) for p in content)
            turns.append((str(item.get("role", "user")), str(content or "")))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            first, second = item
            if first in ("user", "assistant", "system"):
                turns.append((str(first), str(second or "")))
            else:
                turns.append(("user", str(first or "")))
                if second:
                    turns.append(("assistant", str(second)))
    return [(role, text) for role, text in turns if text.strip()]


def _is_capitalised(word: str) -> bool:
    """A name-like word: an acronym ("US", "NATO") or a capitalised word that is not a stopword ("The", "Why")."""
    if word == "I":
        return False
    if len(word) > 1 and word.isupper():
        return True
    return word[:1].isupper() and word.lower().removesuffix("'s").removesuffix("’s") not in STOPWORDS


def looks_like_followup(question: str) -> bool:
    """True when ``question`` cannot stand alone (the rules are in the module docstring)."""
    text = _LEAD.sub("", question).strip()
    if _ELLIPTIC.search(text) or _OPEN_ENDED.search(text):
        return True
    words = _TOKEN.findall(text)
    named_before = False  # a capitalised name earlier in the question is an antecedent for a pronoun
    anchored = bool(_QUOTED.search(text))
    pointing = False
    for position, word in enumerate(words):
        lower = word.lower().replace("’", "'")
        if lower in _PERSONAL and not named_before:
            return True
        pointing = pointing or lower in _POINTING
        if _NUMBER.search(word) or (position > 0 and _is_capitalised(word)):
            anchored = named_before = True
    if anchored:
        return False
    content = [w for w in terms(text) if w not in _NOT_CONTENT]
    return pointing or len(content) < MIN_CONTENT_WORDS


def _context_questions(history: Sequence[Turn]) -> list[str]:
    """The recent user questions a follow-up continues, oldest first (see the module docstring)."""
    recent: list[str] = []
    for role, text in reversed(history):
        if role != "user":
            continue
        recent.append(text)
        if len(recent) >= CONTEXT_TURNS or not looks_like_followup(text):
            break
    return recent[::-1]


def _person_names(text: str) -> list[str]:
    """Runs of two or more capitalised words that are not after "the" or a preposition, in order."""
    names: list[str] = []
    run: list[str] = []
    before = run_before = ""
    for word in [*_TOKEN.findall(text), ""]:
        if (word and _is_capitalised(word)) or (run and word.lower() in _NAME_PARTICLES):
            if not run:
                run_before = before
            run.append(word)
        else:
            while run and run[-1].lower() in _NAME_PARTICLES:
                run.pop()
            if len(run) >= 2 and run_before not in _BEFORE_NON_PERSON:
                names.append(" ".join(w.removesuffix("'s").removesuffix("’s") for w in run))
            run = []
        before = word.lower()
    return names


def _subject_name(questions: Sequence[str], history: Sequence[Turn]) -> str | None:
    for text in reversed(questions):
        if names := _person_names(text):
            return names[0]
    answer = next((text for role, text in reversed(history) if role == "assistant"), "")
    names = _person_names(answer)
    return names[0] if names else None


def _resolve_pronoun(question: str, name: str) -> str:
    """Replace the first singular personal pronoun with ``name`` ("his"/possessive "her" with "name's")."""
    for match in _TOKEN.finditer(question):
        lower = match.group().lower()
        if lower not in _SINGULAR:
            continue
        following = _FOLLOWING.match(question, match.end())
        possessive = lower in ("his", "hers") or (
            lower == "her" and following is not None and following.group(1).lower() not in STOPWORDS)
        replacement = f"{name}'s" if possessive else name
        return question[:match.start()] + replacement + question[match.end():]
    return question


def heuristic_rewrite(question: str, history: Sequence[Turn]) -> str:
    """A follow-up gets a name for its pronoun and the recent questions' missing words; a standalone one stays."""
    if not history or not looks_like_followup(question):
        return question
    questions = _context_questions(history)
    text = _LEAD.sub("", question).strip() or question.strip()
    if name := _subject_name(questions, history):
        text = _resolve_pronoun(text, name)
    have = set(terms(text))
    missing: list[str] = []
    for word in _TOKEN.findall(" ".join(questions)):
        word = word.removesuffix("'s").removesuffix("’s")
        lower = word.lower()
        if lower not in STOPWORDS and lower not in _NOT_CONTENT and lower not in have:
            have.add(lower)
            missing.append(word)
    if missing:
        text = f"{text} ({' '.join(missing)})"
    text = text[:1].upper() + text[1:]
    return question if text == question.strip() else text


def rewrite(question: str, history: Sequence[Turn], chat: Any = None) -> str:
    """The standalone query for ``question``; ``chat`` is a rag.llm.ChatModel or None.

    A question that stands alone is returned as it is, without calling the LLM.
    """
    if not history or not looks_like_followup(question):
        return question
    if chat is not None:
        from rag.answer.generative import condense_messages

        try:
            reply = chat.model.invoke(condense_messages(question, history))
            text = str(reply.content).strip().strip('"').split("\n")[0].strip()
            if 3 <= len(text) <= 400:
                return text
        except Exception as exc:  # noqa: BLE001 - the heuristic is a fine fallback for a failed rewrite
            log.warning("LLM rewrite of the follow-up failed (%s); using the heuristic", exc)
    return heuristic_rewrite(question, history)
