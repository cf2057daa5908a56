"""Page clutter never reaches an article's text: real-looking pages in tests/data/clutter, line by line cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.clean import strip_boilerplate, strip_clutter
from ingest.load import load_file

from .conftest import DATA

pytestmark = pytest.mark.unit
CLUTTER = DATA / "clutter"

# Pieces of the fixture pages that are page furniture, not news.
GONE = [
    "Video Ad Feedback", "Advertisement", "READ MORE", "Tamsford yard wins its biggest order",
    "How relevant is this ad", "Wonder Theory", "Read more about the ferry timetable", "Getty Images",
    "Stay in the conversation", "OnPolitics", "More:", "RELATED", "Four-day weeks are spreading",
    "Follow every game", "trending newsletter", "Follow USA TODAY reporter", "@tferrel", "nbrisco@usatoday.com",
    "Tall Tales", "WeekDay newsletter", "Would you like to receive", "object to the use of your data",
    "Escape your echo chamber", "SUBSCRIBE & SAVE", "We use cookies", "Accept all cookies", "Share this article",
    "Copy link", "Kell Amsby/Reuters", "(Reuters photo)", "Story continues below", "Image credit",
    "Click here to subscribe", "Share on Facebook", "Share via Email",
]
# Real sentences of the same pages that merely contain such words: every one stays, whole.
KEPT = [
    "the authority had studied a campaign advertisement from a rival port that promised the same for less.",
    "The engineers read more than 400 pages of test reports before choosing the battery supplier, Brennick said.",
    "Passengers will pay the same fares, and the authority expects to save 1.2 million euros a year on fuel.",
    "Councilwoman Dara Quint, who sponsored the measure, said the city would keep offices open",
    "People can sign up for free evening classes at the library, where the council met.",
    "Millions subscribe to her newsletter on city budgets, Quint said, and the idea spread there first.",
    "Anyone with questions about the new hours is asked to contact the personnel office at 555-0134 or "
    "hours@velmora.gov.",
    "Contributing: The Associated Press",
    "have been named Axl and Slash, after the band that headlined on Saturday.",
    "The festival said it would check under its stages before every show from next year.",
    "Commuters will save about 60 euros a year on a monthly pass.",
    "The ministry said the keepers would also run guided tours.",
    "Readers can share their memories of the old keepers with the local museum, which plans an exhibition.",
]


def page_texts() -> dict[str, str]:
    texts: dict[str, str] = {}
    for path in sorted(CLUTTER.iterdir()):
        loaded = load_file(path, root=CLUTTER)
        assert not loaded.errors, loaded.errors
        for article in loaded.articles:
            texts[f"{path.name}: {article.title}"] = article.text
    return texts


def test_fixture_pages_lose_their_clutter_and_keep_their_news():
    texts = page_texts()
    assert len(texts) == 5
    everything = "\n".join(texts.values())
    for piece in GONE:
        assert piece not in everything, f"clutter left: {piece!r}"
    for sentence in KEPT:
        assert sentence in everything, f"news lost: {sentence!r}"
    for name, text in texts.items():
        assert len(text.split()) > 25, name  # each page keeps its story


def test_fixture_pages_look_like_the_clutter_they_test():
    """The fixtures hold the clutter: without the cleaning, each piece would be there."""
    raw = "\n".join(Path(p).read_text(encoding="utf-8") for p in sorted(CLUTTER.iterdir()))
    for piece in GONE:
        assert piece in raw, piece


@pytest.mark.parametrize("line", [
    "Video Ad Feedback See how a Rupert Murdoch-owned newspaper covered Trump's announcement 04:16 - Source: CNN",
    "ADVERTISEMENT", "Advertisement", "Ad Feedback", "1. How relevant is this ad to you?",
    "READ MORE:", "READ MORE: Manufacturers allowed baby food contaminated with heavy metals to remain on shelves",
    "Read more here.", "Read more:", "RELATED:Punkin Chunkin canceled in light of pending lawsuit",
    "More:How to watch the first Republican presidential debate on Aug. 23 in Milwaukee", "STORY: Chromium-6 in tap water",
    "Watch:Video shows bear breaking into a bakery", "UP NEXT", "Story continues below.", "Continue reading",
    "Share this article", "Share on Facebook", "Facebook Twitter Email", "Link copied to clipboard",
    "We use cookies to give you the best experience.", "Accept all cookies",
    "If you wish to object to the use of your data in this way, please tick here.",
    "Get CNN Health's weekly newsletter Sign up here to get The Results Are In with Dr. Sanjay Gupta every Tuesday.",
    "Stay in the conversation on politics: Sign up for the OnPolitics newsletter",
    "Would you like to receive The WeekDay newsletter ?",
    "Support local journalism. Subscribe to azcentral.com today.",
    "These articles are for USA TODAY subscribers. You can sign up here.",
    "Follow Jordan Mendoza on Twitter: @jordan_mendoza5.",
    "Eric Lagatta covers breaking and trending news for USA TODAY. Reach him at elagatta@gannett.com",
    "Contact Karen Weintraub at kweintraub@usatoday.com.",
    "Photo: Jane Doe/Getty Images", "Image credit: Wikimedia Commons", "(Reuters photo)", "Getty Images",
    "Eric Thayer/Getty Images",
])
def test_clutter_lines_are_removed(line):
    assert strip_clutter(line) is None


@pytest.mark.parametrize(("line", "kept"), [
    ("Egg prices have soared over the past year. Brandon Bell/Getty Images", "Egg prices have soared over the past year."),
    ("Balmoral Castle is part of the late Queen's private fortune. Andrew Milligan/WPA Pool/Getty Images/File",
     "Balmoral Castle is part of the late Queen's private fortune."),
    ("Fans celebrate in Buenos Aires. Rodrigo Abd/AP Messi holds the Golden Ball trophy. Timothy A. Clark/AFP/Getty Images",
     "Fans celebrate in Buenos Aires. Messi holds the Golden Ball trophy."),
    ("Traffic builds in Tampa. Willie J. Allen Jr./Orlando Sentinel via AP", "Traffic builds in Tampa."),
    ("A monarch butterfly. courtesy Ron Magill", "A monarch butterfly."),
    ("Biden spoke in the Rose Garden. (AP Photo/Evan Vucci)", "Biden spoke in the Rose Garden."),
    ("Snow fell through Tuesday afternoon. Read more", "Snow fell through Tuesday afternoon."),
    ("The views expressed are the author's own. Read more opinion at CNN.", "The views expressed are the author's own."),
    ("The owls were named Axl and Slash after the band's stars, and keepers said both were healthy and eating well "
     "at the sanctuary. For more odd and unexpected news, sign up to the Tall Tales newsletter.",
     "The owls were named Axl and Slash after the band's stars, and keepers said both were healthy and eating well "
     "at the sanctuary."),
    ("In pictures: El Paso sees surge in border crossings Prev Next", "In pictures: El Paso sees surge in border crossings"),
])
def test_credits_and_trailing_prompts_are_cut_from_a_line(line, kept):
    assert strip_clutter(line) == kept


@pytest.mark.parametrize("line", [
    "A Preckwinkle campaign advertisement notes that Lightfoot's agency failed to preserve some 911 recordings.",
    "The advertisement began airing last week.",
    "Reporters read more than 20 hours of depositions and interviewed dozens of litigants.",
    "The federal government launched its website to sign up for free Covid-19 tests, allowing four per household.",
    "The streaming service, which has more than 138 million paying subscribers, announced price increases for new "
    "subscribers.",
    "Millions subscribe to her newsletter, she said.",
    "“Sign up today,” the mayor told residents, “and the city will pay half.”",
    "Anyone with information about the shooting is asked to contact Detective Ryan Clark at 317-327-3475 or email him "
    "at Ryan.Clark@indy.gov.",
    "The bill, sponsored by Sen. Shay Shelnutt, passed 22-3.",
    "Netflix said the ad-supported plan would share its library with the standard plan.",
    "A Reuters/Ipsos poll found 40% approval. An Ipsos/Reuters Poll in May found the same.",
    "The band AC/DC played for 24/7 coverage, Reuters reported.",
    "Where you can watch it: Streaming on Netflix",
    "Contributing: The Associated Press",
    "Related: the two agencies share a budget line, officials said.",
    "Credit card debt rose to a record $1 trillion, the New York Fed said.",
    "The company gave credit to its workers.",
])
def test_real_sentences_that_merely_contain_such_words_stay(line):
    assert strip_clutter(line) == line


def test_blank_lines_and_copyright_trailers_as_before():
    text, outlet = strip_boilerplate("Body line.\n\nAdvertisement\nMore body.\n"
                                     "Copyright 2020 Acme News Inc. All rights reserved.")
    assert text == "Body line.\n\nMore body." and outlet == "Acme News Inc."
