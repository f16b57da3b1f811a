"""docs/litellm.md's proxy set-up works as the page says: its ``config.yaml`` and its
``aigov_callback.py``, written next to each other, loaded the way the proxy loads
``litellm_settings.callbacks`` (LiteLLM's ``get_instance_fn``, relative to the config's folder),
govern a request to the config's model through the proxy's two calls.

The proxy server itself is not installed here (``litellm[proxy]`` needs more than the SDK);
its loader, its router and its hooks are LiteLLM's own."""

from __future__ import annotations

import re
from pathlib import Path
from uuid import uuid4

import anyio
import litellm
import pytest
import yaml
from litellm.caching.dual_cache import DualCache
from litellm.proxy._types import UserAPIKeyAuth
from litellm.proxy.types_utils.utils import get_instance_fn
from sqlalchemy.engine import URL

from aigov import AI_GOVERNANCE, Governance
from aigov_litellm import AigovCallback
from aigov_postgres import PostgresStore
from tests.litellm.conftest import LIMIT, MESSAGES, SYSTEM, answer, cost

pytestmark = [pytest.mark.anyio, pytest.mark.aigov_postgres]

PAGE = Path(__file__).resolve().parents[2] / "docs" / "litellm.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def page_block(language: str, first_line: str | None = None) -> str:
    (block,) = [
        code
        for kind, code in FENCE.findall(PAGE.read_text(encoding="utf-8"))
        if kind == language and (first_line is None or code.startswith(first_line))
    ]
    return str(block)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_documented_config_loads_the_callback_that_governs_its_model(
    tmp_path: Path,
    postgres_url: URL,
    monkeypatch: pytest.MonkeyPatch,
    litellm_callbacks: None,
):
    url = postgres_url.render_as_string(hide_password=False)
    monkeypatch.setenv("AIGOV_DATABASE_URL", url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-unused-by-mock-responses")
    config_text = page_block("yaml")
    (tmp_path / "config.yaml").write_text(config_text, encoding="utf-8")
    (tmp_path / "aigov_callback.py").write_text(
        page_block("python", "# aigov_callback.py"), encoding="utf-8"
    )
    config = yaml.safe_load(config_text)
    config_path = str(tmp_path / "config.yaml")
    (callback,) = [
        get_instance_fn(value=name, config_file_path=config_path)
        for name in config["litellm_settings"]["callbacks"]
    ]
    assert isinstance(callback, AigovCallback)

    admin_store = PostgresStore.from_url(url)
    admin = Governance(admin_store, entitlements={AI_GOVERNANCE})
    admin.apply_price_book()
    acme, ann = uuid4(), uuid4()
    admin.create_organization(SYSTEM, acme, "Acme")
    admin.create_user(SYSTEM, ann, "ann")
    admin.add_organization_member(SYSTEM, ann, acme)
    admin.upsert_group_budget(SYSTEM, acme, LIMIT)
    try:
        litellm.callbacks = [callback]  # what the proxy does with the names it loaded
        router = litellm.Router(model_list=config["model_list"])
        (group,) = [deployment["model_name"] for deployment in config["model_list"]]
        data = {
            "model": group,
            "messages": MESSAGES,
            "user": str(ann),
            "max_tokens": 100,
            "litellm_call_id": str(uuid4()),
        }
        await callback.async_pre_call_hook(
            user_api_key_dict=UserAPIKeyAuth(),
            cache=DualCache(),
            data=data,
            call_type="acompletion",
        )
        await router.acompletion(**data, mock_response=answer(30, 8))
        with anyio.fail_after(10):
            while callback.calls_in_flight:
                await anyio.sleep(0.01)
        status = await callback.gov.spend_status(SYSTEM, ann)
        assert (status.spent_micros, status.held_micros) == (cost(30, 8), 0)
        (record,) = admin_store.snapshot().usage
        assert (record.provider, record.model) == ("anthropic", "claude-haiku-4-5")
    finally:
        await callback.gov.aclose()
        admin_store.close()
