"""newsrag as an MCP server (``newsrag mcp``): two tools over the official MCP Python SDK.

    search_news(query, since?, until?, outlet?, k?) -> the retrieved passages with their articles' metadata
    ask_news(question, since?, until?, outlet?, provider?) -> a cited answer, or a refusal with its reason

An edge, like the CLI: it checks the arguments, calls :mod:`rag.service` and turns the results into
JSON-ready models (the tools' output schemas). Anything the user can act on (a bad date, ``k`` out of
range, an empty question, an empty index) comes back as a tool error (``isError``) with one message,
never a traceback. The engine (embedding model, Chroma, BM25 index) loads on the first tool call, once.
Over stdio, stdout is the protocol channel: the SDK points fd 1 at stderr while it serves, and
logging goes to stderr.
"""

from __future__ import annotations

import logging
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from rag.config import LLM_PROVIDERS, MAX_TOP_K, Settings
from rag.dates import day_text, typed_filters
from rag.errors import NewsragError
from rag.outputs import AnswerOut, answer_out, iso_day
from rag.schema import Hit

log = logging.getLogger(__name__)

INSTRUCTIONS = ("Search and question a local collection of news articles. search_news returns passages with their "
                "title, outlet, publication date and URL; ask_news returns an answer whose [n] markers point at "
                "numbered citations, or a refusal when the articles do not cover the question.")

Day = Annotated[str | None, Field(description="YYYY-MM-DD (inclusive); omit for no bound")]
Outlet = Annotated[str | None, Field(description="only articles from this outlet, in any spelling: 'Reuters', 'reuters.com'")]


class PassageOut(BaseModel):
    """A retrieved passage and the article it comes from."""

    text: str
    title: str
    outlet: str
    published: str | None = Field(description="publication day as YYYY-MM-DD, or null when unknown")
    date: str = Field(description="the publication day as shown to a reader: YYYY-MM-DD or 'date unknown'")
    url: str
    source: str = Field(description="the file the article was ingested from")
    article_id: str
    chunk_id: str
    score: float = Field(description="fused retrieval score (higher is better; comparable within one search)")


class SearchResult(BaseModel):
    query: str
    passages: list[PassageOut]


def passage_out(hit: Hit) -> PassageOut:
    p = hit.passage
    return PassageOut(text=p.text, title=p.title, outlet=p.outlet, published=iso_day(p.published),
                      date=day_text(p.published), url=p.url, source=p.source, article_id=p.article_id,
                      chunk_id=p.chunk_id, score=round(float(hit.score), 6))


def build_server(settings: Settings) -> MCPServer:
    """The MCP app for ``settings``; nothing heavy is loaded until a tool is called."""
    from rag.service import Done, Error, ask, get_engine, invalid_input

    server = MCPServer("newsrag", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool()
    def search_news(
        query: Annotated[str, Field(description="what to look for, in words")],
        since: Day = None,
        until: Day = None,
        outlet: Outlet = None,
        k: Annotated[int, Field(description=f"how many passages, 1 to {MAX_TOP_K}")] = 5,
    ) -> SearchResult:
        """Search the indexed news articles: the best-matching passages with title, outlet, date and URL."""
        query = (query or "").strip()
        if not query:
            raise ToolError("query is empty: give the words to search the articles for.")
        try:
            filters = typed_filters(since, until, outlet)
            if problem := invalid_input(query, filters, k, None):
                raise ToolError(problem.replace("top_k", "k"))
            retrieval = get_engine(settings).retriever.search(
                query, filters, top_k=k)
        except NewsragError as exc:
            raise ToolError(str(exc)) from exc
        return SearchResult(query=query, passages=[passage_out(h) for h in retrieval.hits])

    @server.tool()
    def ask_news(
        question: Annotated[str, Field(description="a question about the news in the indexed articles")],
        since: Day = None,
        until: Day = None,
        outlet: Outlet = None,
        provider: Annotated[str | None, Field(description=f"answerer, one of {', '.join(LLM_PROVIDERS)} "
                                                          "(default: the configured [llm] provider)")] = None,
    ) -> AnswerOut:
        """Answer a question from the indexed news articles, with numbered citations, or refuse when they
        do not cover it."""
        if provider is not None and provider not in LLM_PROVIDERS:
            raise ToolError(f"provider must be one of {', '.join(LLM_PROVIDERS)}, got {provider!r}")
        try:
            filters = typed_filters(since, until, outlet)
        except NewsragError as exc:
            raise ToolError(str(exc)) from exc
        for event in ask(question, None, filters, settings, provider=provider):
            if isinstance(event, Done):
                return answer_out(event.answer)
            if isinstance(event, Error):
                raise ToolError(event.message)
        raise ToolError("no answer was produced")  # pragma: no cover - ask always ends with Done or Error

    return server


def serve_stdio(settings: Settings) -> None:
    """Serve the tools over stdin/stdout until the client closes stdin."""
    build_server(settings).run("stdio")
