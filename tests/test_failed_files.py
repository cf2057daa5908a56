"""A file that failed to index is remembered (ingest/failures.py): a re-scan reports it with the same reason
without reading it until it changes; failed uploads are listed and can be removed (ingest/uploads.py)."""

from __future__ import annotations

import shutil

import pytest

from ingest import failures, index, lastrun, uploads
from ingest.index import ingest_paths
from rag.errors import InputError, LoadError

from .conftest import ARTICLES, BAD

pytestmark = pytest.mark.integration


@pytest.fixture
def reads(monkeypatch):
    """The files each ingest reads, by name; failures are remembered at once (no racy window in a test)."""
    seen: list[str] = []
    real = index.load_file

    def counted(path, **kwargs):
        seen.append(path.name)
        return real(path, **kwargs)

    monkeypatch.setattr(index, "load_file", counted)
    monkeypatch.setattr(lastrun, "RACY_SECONDS", 0.0)
    return seen


def reasons(report):
    return {item.source: item.reason for item in report.items if item.outcome == "failed"}


def test_a_failed_file_is_not_read_again_until_it_changes(settings, embedder, reads):
    shutil.copy(BAD / "binary.txt", settings.articles_dir / "junk.txt")
    first = reasons(ingest_paths([settings.articles_dir], settings, embedder=embedder, prune=True))
    assert first == {"junk.txt": "binary file, not text"} and "junk.txt" in reads
    reads.clear()
    again = ingest_paths([settings.articles_dir], settings, embedder=embedder, prune=True)
    assert reasons(again) == first and "junk.txt" not in reads  # the same report, the file not opened
    assert [f.source for f in failures.failures(settings)] == ["junk.txt"]
    (settings.articles_dir / "junk.txt").write_text("Junk fixed\n\nA real article about a harbour crane in Orvik.\n")
    fixed = ingest_paths([settings.articles_dir], settings, embedder=embedder, prune=True)
    assert "junk.txt" in reads and reasons(fixed) == {} and failures.failures(settings) == []


def test_a_failure_that_may_pass_is_read_again(settings, embedder, reads, monkeypatch):
    (settings.articles_dir / "slow.txt").write_text("Slow\n\nA text.\n")
    real = index.load_file

    def slow(path, **kwargs):
        if path.name == "slow.txt":
            reads.append(path.name)
            raise LoadError("PDF text extraction took over 10 s", transient=True)
        return real(path, **kwargs)

    monkeypatch.setattr(index, "load_file", slow)
    for _ in range(2):
        reads.clear()
        assert "took over" in reasons(ingest_paths([settings.articles_dir], settings, embedder=embedder))["slow.txt"]
        assert reads.count("slow.txt") == 1
    assert [f.source for f in failures.failures(settings)] == ["slow.txt"]  # listed all the same


def test_failed_uploads_are_listed_and_removed(settings, embedder, reads):
    saved = uploads.save_uploads([("junk.txt", BAD / "binary.txt"), ("story.txt", ARTICLES / "glowfish_festival.txt")],
                                 settings)
    (settings.articles_dir / "empty.txt").write_text("")  # a failure outside the uploads folder: not an upload
    ingest_paths([s.path for s in saved] + [settings.articles_dir / "empty.txt"], settings, embedder=embedder)
    listed = uploads.failed_uploads(settings)
    assert [(f.source, f.reason) for f in listed] == [("uploads/junk.txt", "binary file, not text")]
    with pytest.raises(InputError):
        uploads.remove_upload("empty.txt", settings)
    with pytest.raises(InputError):
        uploads.remove_upload("uploads/../empty.txt", settings)
    uploads.remove_upload("uploads/junk.txt", settings)
    assert not (settings.articles_dir / "uploads" / "junk.txt").exists() and uploads.failed_uploads(settings) == []
    assert (settings.articles_dir / "uploads" / "story.txt").exists() and (settings.articles_dir / "empty.txt").exists()
    report = ingest_paths([settings.articles_dir], settings, embedder=embedder, prune=True)
    assert reasons(report) == {"empty.txt": "empty file"}
    assert [f.source for f in failures.failures(settings)] == ["empty.txt"]
