"""The few GitHub REST calls the Action and the App make, through githubkit (synchronous,
loaded on use).

Every call goes to the configured base URL (`GITHUB_API_URL`: GitHub Enterprise Server too).
A refusal is an `ApiRefused` carrying GitHub's status (403 on a fork's read-only token, 422 on
a review GitHub cannot place), its message redacted; the caller decides what it means.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

from memfun_git.errors import MemfunError
from memfun_git.redact import redact, register_secret

if TYPE_CHECKING:
    from githubkit import GitHub

__all__ = ["TOKEN_REDACTED_SECONDS", "Api", "ApiRefused", "installation_token"]

T = TypeVar("T")
CHECK_NAME = "memfun review"
TOKEN_REDACTED_SECONDS = 6 * 3600
"""How long the redactor keeps an installation token's value (GitHub ends it after an hour;
its `ghs_` shape is redacted anyway): a long-running App does not collect them all."""


class ApiRefused(MemfunError):
    """GitHub answered a call with an error status."""

    def __init__(self, status: int, what: str, message: str) -> None:
        super().__init__(f"GitHub refused to {what} ({status}: {message})", "")
        self.status = status


class Api:
    def __init__(self, token: str, base_url: str, owner: str, repo: str) -> None:
        from githubkit import GitHub

        self.gh: GitHub[Any] = GitHub(token, base_url=base_url, http_cache=False, auto_retry=False)
        self.owner = owner
        self.repo = repo

    def _call(self, what: str, call: Callable[[], T]) -> T:
        return _calling(what, call)

    def _pages(self, what: str, method: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            pages = self.gh.rest.paginate(
                method, owner=self.owner, repo=self.repo, per_page=100,
                map_func=lambda r: r.json(), **kwargs,
            )  # fmt: skip
            return list(pages)

        return iter(self._call(what, run))

    def comment_bodies(self, number: int) -> list[str]:
        """The bodies of every review comment, review and issue comment on pull `number`."""
        rest = self.gh.rest
        bodies: list[str] = []
        for method, kwargs in (
            (rest.pulls.list_review_comments, {"pull_number": number}),
            (rest.pulls.list_reviews, {"pull_number": number}),
            (rest.issues.list_comments, {"issue_number": number}),
        ):
            bodies += [
                str(c.get("body") or "") for c in self._pages("list comments", method, **kwargs)
            ]
        return bodies

    def permission(self, user: str) -> str:
        """`user`'s permission on the repository (admin, maintain, write, triage, read, none),
        as the API says, never as a payload says."""
        response = self._call(
            "read a collaborator's permission",
            lambda: self.gh.rest.repos.get_collaborator_permission_level(
                self.owner, self.repo, user
            ),
        )
        data = response.json()
        # `permission` is the base role (admin, write, read, none); `role_name` may be an
        # organisation's custom role whose name says nothing of its base.
        return str(data.get("permission") or data.get("role_name") or "none")

    def create_review(
        self, number: int, commit: str, body: str, comments: list[dict[str, Any]]
    ) -> None:
        self._call(
            "post the review",
            lambda: self.gh.rest.pulls.create_review(
                self.owner, self.repo, number,
                commit_id=commit, event="COMMENT", body=body, comments=comments,  # type: ignore[arg-type]
            ),
        )  # fmt: skip

    def pull(self, number: int) -> dict[str, Any]:
        """Pull request `number` as the API returns it (JSON)."""
        response = self._call(
            "read the pull request",
            lambda: self.gh.rest.pulls.get(self.owner, self.repo, number),
        )
        return cast(dict[str, Any], response.json())

    def issue_comments(self, number: int) -> list[dict[str, Any]]:
        """The issue comments of pull `number` (id, body, user...), every page."""
        return list(
            self._pages("list comments", self.gh.rest.issues.list_comments, issue_number=number)
        )

    def edit_comment(self, comment: int, body: str) -> None:
        self._call(
            "edit a comment",
            lambda: self.gh.rest.issues.update_comment(self.owner, self.repo, comment, body=body),
        )

    def comment(self, number: int, body: str) -> int:
        """Post an issue comment; its id."""
        response = self._call(
            "post a comment",
            lambda: self.gh.rest.issues.create_comment(self.owner, self.repo, number, body=body),
        )
        return int(response.json().get("id") or 0)

    def issue(self, number: int) -> dict[str, Any]:
        """Issue (or pull request) `number` as the API returns it (JSON)."""
        response = self._call(
            "read the issue",
            lambda: self.gh.rest.issues.get(self.owner, self.repo, number),
        )
        return cast(dict[str, Any], response.json())

    def open_pulls(self) -> list[dict[str, Any]]:
        """The repository's open pull requests, every page."""
        return list(self._pages("list pull requests", self.gh.rest.pulls.list, state="open"))

    def create_pull(
        self, title: str, head: str, base: str, body: str, *, draft: bool = True
    ) -> dict[str, Any]:
        response = self._call(
            "open the pull request",
            lambda: self.gh.rest.pulls.create(
                self.owner, self.repo, title=title, head=head, base=base, body=body, draft=draft
            ),
        )
        return cast(dict[str, Any], response.json())

    def request_reviewers(self, number: int, logins: list[str]) -> None:
        self._call(
            "request a review",
            lambda: self.gh.rest.pulls.request_reviewers(
                self.owner, self.repo, number, reviewers=logins
            ),
        )

    def start_check(self, head: str) -> int:
        response = self._call(
            "create a check run",
            lambda: self.gh.rest.checks.create(
                self.owner, self.repo, name=CHECK_NAME, head_sha=head, status="in_progress"
            ),
        )
        return int(response.json()["id"])

    def finish_check(self, check: int, conclusion: str, title: str, summary: str) -> None:
        output = {"title": title[:255], "summary": redact(summary)[:65_000]}
        self._call(
            "complete the check run",
            lambda: self.gh.rest.checks.update(
                self.owner, self.repo, check,
                status="completed", conclusion=conclusion, output=output,  # type: ignore[arg-type]
            ),
        )  # fmt: skip


def installation_token(
    app_id: str, private_key: str, installation: int, repository: str, base_url: str
) -> str:
    """An installation token of the App narrowed to `repository` (its name, without the
    owner): the App's JWT asks `POST /app/installations/<id>/access_tokens` for it."""
    from githubkit import AppAuthStrategy, GitHub

    app: GitHub[Any] = GitHub(
        AppAuthStrategy(app_id, private_key), base_url=base_url, http_cache=False, auto_retry=False
    )
    response = _calling(
        "give the App a token for the repository",
        lambda: app.rest.apps.create_installation_access_token(
            installation, repositories=[repository]
        ),
    )
    token = str(response.json()["token"])
    register_secret(token, lifetime=TOKEN_REDACTED_SECONDS)
    return token


def _calling(what: str, call: Callable[[], T]) -> T:
    """`call()`, GitHub's refusal or an unreachable API as ApiRefused (message redacted)."""
    from githubkit.exception import RequestError, RequestFailed

    try:
        return call()
    except RequestFailed as exc:
        response = exc.response
        try:
            message = str(response.json().get("message", ""))
        except ValueError:
            message = response.text[:200]
        raise ApiRefused(response.status_code, what, redact(message)) from None
    except RequestError as exc:
        raise ApiRefused(0, what, redact(str(exc))) from None
