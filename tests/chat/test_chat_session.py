"""The chat's engine side (chat/session.py) with the scripted model: plain tasks and things
to remember routed without a call, the rest by one triage call (an odd answer is a question
about the project, never a change), a web question answered with the web unreachable saying
so, and /remember's kind."""

from __future__ import annotations

from pathlib import Path

from memfun_git.chat.session import ChatSession
from memfun_git.llm.scripted import Answer, engine_of, scripted_lm

OFFLINE = {"MEMFUN_WEB_SEARCH_BACKEND": "searxng", "MEMFUN_WEB_SEARXNG_URL": "http://127.0.0.1:9",
           "MEMFUN_LLM_PROVIDER": "openai", "MEMFUN_LLM_MODEL": "memfun-scripted"}  # fmt: skip


def _chat(repo: Path, *answers: Answer) -> ChatSession:
    return ChatSession(repo, OFFLINE, lm=scripted_lm(list(answers)))


def test_plain_tasks_and_preferences_need_no_triage_call(git_repo: Path) -> None:
    chat = _chat(git_repo)
    assert chat.route("Add a --verbose flag") == "task"
    assert chat.route("fix: the login redirect loops") == "task"
    assert chat.route("I always want pool_size=10 for dev") == "remember"
    assert chat.route("remember that the API lives in src/api") == "remember"
    assert engine_of(chat.lm).calls == []


def test_the_rest_is_triaged_in_one_call_and_an_odd_answer_is_a_question(git_repo: Path) -> None:
    chat = _chat(
        git_repo,
        Answer(raw="web", step="triage"),
        Answer(raw="Probably a change, I think", step="triage"),
    )
    assert chat.route("what is new in python 3.13?") == "web"
    assert chat.route("hmm, the tests are slow") == "project"
    assert [c.step for c in engine_of(chat.lm).calls] == ["triage", "triage"]


def test_a_skill_is_named_or_picked_by_the_triage(git_repo: Path) -> None:
    chat = _chat(git_repo, Answer(raw="skill security-audit", step="triage"),
                 Answer(raw="skill no-such-skill", step="triage"))  # fmt: skip
    assert chat.route("is the login handler safe?") == "skill:security-audit"
    assert chat.route("is the login handler safe?") == "project"
    skill, request = chat.skill("/explain-code what does add do") or (None, "")
    assert skill is not None
    assert (skill.name, request) == ("explain-code", "what does add do")
    assert chat.skill("/memory") is None
    assert "security-audit: Audit code" in engine_of(chat.lm).calls[0].prompt


def test_a_web_question_with_the_web_unreachable_says_so(git_repo: Path) -> None:
    chat = _chat(git_repo, Answer({"answer": "I could not search; from memory: …"}, step="chat"))
    said = chat.answer("what is new in python 3.13?", "web")
    assert said.startswith("I could not search")
    (call,) = engine_of(chat.lm).calls
    assert "the web is not reachable" in call.prompt
    assert chat.recent[-1] == ("memfun", said)


def test_remember_keeps_a_preference_or_a_fact(git_repo: Path) -> None:
    chat = _chat(git_repo)
    preference = chat.remember("I always want pool_size=10 for dev")
    fact = chat.remember("remember that the API lives in src/api")
    assert (preference.section, fact.section, fact.text) == (
        "Preferences", "Project facts", "the API lives in src/api",
    )  # fmt: skip
    memory = (git_repo / ".memfun" / "MEMORY.md").read_text()
    assert "I always want pool_size=10 for dev" in memory
