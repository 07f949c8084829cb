"""Config loading: the issue's example validates, and every problem is reported where the user must look."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from batchsync.config import (
    BasicAuthConfig,
    Config,
    OAuth2RefreshTokenConfig,
    OffsetPaginatorConfig,
    PageNumberPaginatorConfig,
    find_config_file,
    load_config,
    parse_config,
)
from batchsync.errors import ConfigError

EXAMPLE = """\
database: sqlite:///batchsync.db
pipelines:
  zoho_items:
    source:
      type: rest
      base_url: https://www.zohoapis.com/inventory/v1
      path: /items
      params: {organization_id: "${ZOHO_ORG_ID}", filter_by: Status.Active}
      auth:
        type: oauth2_refresh_token
        token_url: https://accounts.zoho.com/oauth/v2/token
        refresh_token: ${ZOHO_REFRESH_TOKEN}
        client_id: ${ZOHO_CLIENT_ID}
        client_secret: ${ZOHO_CLIENT_SECRET}
        header_format: "Zoho-oauthtoken {token}"
      paginator: {type: page_number, page_param: page, size_param: per_page, page_size: 200,
                  has_more_path: page_context.has_more_page}
      records_path: items
    destination:
      table: products
      primary_key: zoho_item_id
      columns:
        zoho_item_id:   {path: item_id, type: string}
        sku:            {path: sku, type: string}
        name:           {path: name, type: string}
        price:          {path: rate, type: decimal}
        stock_quantity: {path: stock_on_hand, type: integer}
        is_active:      {path: status, type: boolean, true_values: [active]}
    db_batch_size: 100
  oracle_opportunities:
    source:
      type: rest
      base_url: https://example.oraclecloud.com
      path: /crmRestApi/resources/11.12.1.0/opportunities
      params: {onlyData: "true", fields: "OptyId,OptyNumber"}
      auth: {type: basic, username: "${ORACLE_USER}", password: "${ORACLE_PASSWORD}"}
      paginator: {type: offset, offset_param: offset, limit_param: limit, limit: 5, has_more_path: hasMore}
      records_path: items
    destination:
      table: minimal_opportunities
      primary_key: opportunity_id
      columns:
        opportunity_id:     {path: OptyId, type: string}
        opportunity_number: {path: OptyNumber, type: string}
"""

ZOHO_ENV = {
    "ZOHO_ORG_ID": "60001234",
    "ZOHO_REFRESH_TOKEN": "1000.refresh.abc",
    "ZOHO_CLIENT_ID": "1000.CLIENTID",
    "ZOHO_CLIENT_SECRET": "client-secret-xyz",
}
ORACLE_ENV = {"ORACLE_USER": "integration.user", "ORACLE_PASSWORD": "oracle-pass-123"}
ENV = {**ZOHO_ENV, **ORACLE_ENV}


def example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE)


def problems_of(document: Any, **options: Any) -> list[str]:
    options.setdefault("environ", ENV)
    with pytest.raises(ConfigError) as raised:
        parse_config(document, **options)
    return raised.value.problems


def zoho(document: dict[str, Any]) -> dict[str, Any]:
    pipeline: dict[str, Any] = document["pipelines"]["zoho_items"]
    return pipeline


# --- the example --------------------------------------------------------------------------------------


def test_the_issue_example_validates_with_its_environment_variables_set() -> None:
    config = parse_config(example(), environ=ENV)
    assert config.database == "sqlite:///batchsync.db"
    assert set(config.pipelines) == {"zoho_items", "oracle_opportunities"}

    items = config.pipeline("zoho_items")
    assert items.source.base_url == "https://www.zohoapis.com/inventory/v1"
    assert items.source.query_params() == {"organization_id": "60001234", "filter_by": "Status.Active"}
    assert isinstance(items.source.auth, OAuth2RefreshTokenConfig)
    assert items.source.auth.refresh_token.get_secret_value() == "1000.refresh.abc"
    assert items.source.auth.client_id == "1000.CLIENTID"
    assert items.source.auth.header_format == "Zoho-oauthtoken {token}"
    assert items.source.paginator == PageNumberPaginatorConfig(
        type="page_number",
        page_param="page",
        size_param="per_page",
        page_size=200,
        has_more_path="page_context.has_more_page",
    )
    assert items.destination.primary_key == "zoho_item_id"
    assert list(items.destination.columns) == [
        "zoho_item_id", "sku", "name", "price", "stock_quantity", "is_active",
    ]  # fmt: skip
    assert items.destination.columns["is_active"].true_values == ["active"]
    assert items.db_batch_size == 100

    opportunities = config.pipeline("oracle_opportunities")
    assert isinstance(opportunities.source.auth, BasicAuthConfig)
    assert opportunities.source.auth.username == "integration.user"
    assert opportunities.source.paginator == OffsetPaginatorConfig(
        type="offset", offset_param="offset", limit_param="limit", limit=5, has_more_path="hasMore"
    )
    assert opportunities.source.query_params() == {"onlyData": "true", "fields": "OptyId,OptyNumber"}
    assert opportunities.db_batch_size == 1000


def test_the_example_loads_from_a_file(tmp_path: Path) -> None:
    file = tmp_path / "batchsync.yaml"
    file.write_text(EXAMPLE, encoding="utf-8")
    config = load_config(file, environ=ENV)
    assert config == parse_config(example(), environ=ENV)


def test_every_missing_environment_variable_is_named_with_where_it_is_used() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(example(), environ={})
    assert "environment variables not set" in str(raised.value)
    assert sorted(raised.value.problems) == [
        "pipelines.oracle_opportunities.source.auth.password: "
        "environment variable ORACLE_PASSWORD is not set",
        "pipelines.oracle_opportunities.source.auth.username: environment variable ORACLE_USER is not set",
        "pipelines.zoho_items.source.auth.client_id: environment variable ZOHO_CLIENT_ID is not set",
        "pipelines.zoho_items.source.auth.client_secret: environment variable ZOHO_CLIENT_SECRET is not set",
        "pipelines.zoho_items.source.auth.refresh_token: environment variable ZOHO_REFRESH_TOKEN is not set",
        "pipelines.zoho_items.source.params.organization_id: environment variable ZOHO_ORG_ID is not set",
    ]


def test_missing_variables_of_pipelines_not_selected_are_tolerated() -> None:
    config = parse_config(example(), pipelines=["oracle_opportunities"], environ=ORACLE_ENV)
    auth = config.pipeline("oracle_opportunities").source.auth
    assert isinstance(auth, BasicAuthConfig)
    assert auth.password.get_secret_value() == "oracle-pass-123"

    problems = problems_of(example(), pipelines=["zoho_items"], environ=ORACLE_ENV)
    assert len(problems) == 4
    assert all(problem.startswith("pipelines.zoho_items.") for problem in problems)


def test_a_missing_variable_of_a_pipeline_not_selected_is_tolerated_in_any_field() -> None:
    document = example()
    document["pipelines"]["oracle_opportunities"]["source"]["base_url"] = "${ORACLE_BASE_URL}"
    config = parse_config(document, pipelines=["zoho_items"], environ=ZOHO_ENV)
    assert config.pipeline("zoho_items").source.base_url == "https://www.zohoapis.com/inventory/v1"


def test_a_missing_top_level_variable_is_an_error_whichever_pipelines_are_selected() -> None:
    document = example()
    document["database"] = "postgresql://sync:${DB_PASSWORD}@db/sync"
    problems = problems_of(document, pipelines=["zoho_items"])
    assert problems == ["database: environment variable DB_PASSWORD is not set"]


def test_selecting_an_unknown_pipeline_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"no pipeline named 'zoho'.*oracle_opportunities, zoho_items"):
        parse_config(example(), pipelines=["zoho"], environ=ENV)


def test_variables_expand_inside_longer_strings() -> None:
    document = example()
    zoho(document)["source"]["path"] = "/orgs/${ZOHO_ORG_ID}/items"
    assert parse_config(document, environ=ENV).pipeline("zoho_items").source.path == "/orgs/60001234/items"


# --- problems and where they are ----------------------------------------------------------------------


def test_error_paths_follow_the_file_not_pydantics_union_members() -> None:
    document = example()
    zoho(document)["source"]["paginator"]["page_size"] = 0
    problems = problems_of(document)
    assert problems == ["pipelines.zoho_items.source.paginator.page_size: must be > 0"]


def test_error_paths_inside_auth_drop_the_union_member_too() -> None:
    document = example()
    del document["pipelines"]["oracle_opportunities"]["source"]["auth"]["password"]
    assert problems_of(document) == ["pipelines.oracle_opportunities.source.auth.password: required"]


def test_every_problem_is_reported_at_once() -> None:
    document = example()
    zoho(document)["source"]["paginator"]["page_size"] = -1
    zoho(document)["db_batch_size"] = 0
    document["pipelines"]["oracle_opportunities"]["source"]["base_url"] = "example.oraclecloud.com"
    with pytest.raises(ConfigError, match="3 problem") as raised:
        parse_config(document, environ=ENV)
    assert sorted(raised.value.problems) == [
        "pipelines.oracle_opportunities.source.base_url: must start with http:// or https://",
        "pipelines.zoho_items.db_batch_size: must be > 0",
        "pipelines.zoho_items.source.paginator.page_size: must be > 0",
    ]


def test_an_unknown_paginator_type_lists_the_known_types() -> None:
    document = example()
    zoho(document)["source"]["paginator"]["type"] = "pages"
    [problem] = problems_of(document)
    assert problem.startswith("pipelines.zoho_items.source.paginator: unknown type 'pages'; expected one of")
    for known in ("offset", "page_number", "cursor", "link_header", "next_url"):
        assert f"'{known}'" in problem


def test_a_paginator_without_a_type_asks_for_one() -> None:
    document = example()
    del zoho(document)["source"]["paginator"]["type"]
    assert problems_of(document) == ["pipelines.zoho_items.source.paginator: needs a 'type'"]


def test_an_unknown_auth_type_lists_the_known_types() -> None:
    document = example()
    zoho(document)["source"]["auth"]["type"] = "oauth3"
    [problem] = problems_of(document)
    assert problem.startswith("pipelines.zoho_items.source.auth: unknown type 'oauth3'; expected one of")
    for known in ("bearer", "api_key", "basic", "oauth2_refresh_token", "oauth2_client_credentials"):
        assert f"'{known}'" in problem


def test_an_unknown_field_is_named_as_a_likely_misspelling() -> None:
    document = example()
    zoho(document)["db_batch_sise"] = 50
    zoho(document)["source"]["paginator"]["page_sise"] = 50
    assert sorted(problems_of(document)) == [
        "pipelines.zoho_items.db_batch_sise: unknown field (check the spelling)",
        "pipelines.zoho_items.source.paginator.page_sise: unknown field (check the spelling)",
    ]


def test_a_primary_key_that_is_not_a_column_is_a_problem() -> None:
    document = example()
    zoho(document)["destination"]["primary_key"] = "item_id"
    assert problems_of(document) == [
        "pipelines.zoho_items: destination.primary_key 'item_id' must be one of destination.columns"
    ]


def test_true_values_on_a_column_that_is_not_boolean_is_a_problem() -> None:
    document = example()
    zoho(document)["destination"]["columns"]["sku"]["true_values"] = ["yes"]
    [problem] = problems_of(document)
    assert problem.startswith("pipelines.zoho_items.destination.columns.sku: ")
    assert "boolean" in problem


def test_an_unknown_column_type_lists_the_known_types() -> None:
    document = example()
    zoho(document)["destination"]["columns"]["price"]["type"] = "money"
    [problem] = problems_of(document)
    assert problem.startswith("pipelines.zoho_items.destination.columns.price.type: must be one of")
    assert "'decimal'" in problem


def test_a_cursor_paginator_needs_exactly_one_cursor_source() -> None:
    document = example()
    zoho(document)["source"]["paginator"] = {"type": "cursor", "cursor_param": "after"}
    [problem] = problems_of(document)
    assert problem.startswith("pipelines.zoho_items.source.paginator: ")
    assert "next_cursor_path" in problem and "cursor_from_last_record" in problem


def test_a_malformed_path_is_a_problem_at_that_setting() -> None:
    document = example()
    zoho(document)["source"]["records_path"] = "data..items"
    [problem] = problems_of(document)
    assert problem.startswith("pipelines.zoho_items.source.records_path: ")
    assert "empty segment" in problem


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        parse_config(["pipelines"], environ={})


def test_an_empty_document_is_an_empty_config() -> None:
    assert parse_config(None, environ={}) == Config()


# --- files --------------------------------------------------------------------------------------------


def test_invalid_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    file = tmp_path / "batchsync.yaml"
    file.write_text("database: sqlite:///x.db\npipelines:\n  p: {source: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML at line 4") as raised:
        load_config(file, environ={})
    assert str(file) in str(raised.value)


def test_invalid_yaml_reports_the_line_of_a_bad_indent(tmp_path: Path) -> None:
    lines = EXAMPLE.splitlines()
    lines[5] = "       path: /items"  # line 6 of the file, deeper than its siblings
    file = tmp_path / "batchsync.yaml"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid YAML at line 6\b"):
        load_config(file, environ=ENV)


def test_invalid_yaml_shows_the_line_with_a_caret_under_the_column(tmp_path: Path) -> None:
    file = tmp_path / "batchsync.yaml"
    file.write_text("pipelines:\n  p:\n    source:\n      page_size: 200: 300\n", encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        load_config(file, environ={})

    message = str(raised.value).splitlines()
    assert "not valid YAML at line 4, column 21: mapping values are not allowed here" in message[0]
    assert message[1:] == ["  4 |       page_size: 200: 300", "    |                     ^"]
    assert message[2].index("^") == message[1].index(": 300")


def test_the_caret_stays_under_the_character_after_a_tab(tmp_path: Path) -> None:
    file = tmp_path / "batchsync.yaml"
    file.write_text('pipelines:\n  p: ["a\tb", }\n', encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        load_config(file, environ={})

    shown, caret = str(raised.value).splitlines()[1:]
    assert caret.expandtabs().index("^") == shown.expandtabs().index("}")


def test_config_option_wins_over_the_environment_variable(tmp_path: Path) -> None:
    chosen, from_env = tmp_path / "chosen.yaml", tmp_path / "env.yaml"
    chosen.write_text("{}", encoding="utf-8")
    from_env.write_text("{}", encoding="utf-8")
    assert find_config_file(chosen, {"BATCHSYNC_CONFIG": str(from_env)}) == chosen
    assert find_config_file(str(chosen), {"BATCHSYNC_CONFIG": str(from_env)}) == chosen


def test_the_environment_variable_wins_over_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "batchsync.yaml").write_text("{}", encoding="utf-8")
    from_env = tmp_path / "elsewhere.yaml"
    from_env.write_text("{}", encoding="utf-8")
    assert find_config_file(None, {"BATCHSYNC_CONFIG": str(from_env)}) == from_env


def test_batchsync_yaml_in_the_working_directory_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "batchsync.yaml").write_text("{}", encoding="utf-8")
    assert find_config_file(None, {}).resolve() == (tmp_path / "batchsync.yaml").resolve()
    assert (
        find_config_file(None, {"BATCHSYNC_CONFIG": ""}).resolve() == (tmp_path / "batchsync.yaml").resolve()
    )


def test_a_config_file_that_does_not_exist_is_named_with_how_to_choose_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        ConfigError, match=r"config file not found: batchsync\.yaml.*--config.*BATCHSYNC_CONFIG"
    ):
        find_config_file(None, {})
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml"):
        load_config(None, environ={"BATCHSYNC_CONFIG": str(missing)})


# --- database and secrets -----------------------------------------------------------------------------


def test_batchsync_database_url_overrides_the_file() -> None:
    environ = {**ENV, "BATCHSYNC_DATABASE_URL": "postgresql://sync@db/sync"}
    assert parse_config(example(), environ=environ).database == "postgresql://sync@db/sync"
    assert parse_config({"pipelines": {}}, environ={}).database == "sqlite:///batchsync.db"


def test_secret_values_collect_credentials_secret_params_and_secret_variables() -> None:
    document = example()
    zoho(document)["source"]["params"]["api_key"] = "param-key-1"
    zoho(document)["source"]["headers"] = {"Authorization": "Token header-token-2", "X-Trace": "trace-3"}
    zoho(document)["source"]["params"]["search"] = "${SEARCH_TOKEN}"
    environ = {**ENV, "SEARCH_TOKEN": "env-token-4"}
    secrets = parse_config(document, environ=environ).secret_values()
    assert {
        "1000.refresh.abc",  # auth.refresh_token
        "client-secret-xyz",  # auth.client_secret
        "oracle-pass-123",  # basic auth password
        "param-key-1",  # a query param named like a key
        "Token header-token-2",  # the Authorization header
        "env-token-4",  # from a variable named *TOKEN*, wherever it is used
    } <= secrets
    assert "60001234" not in secrets
    assert "trace-3" not in secrets
    assert "" not in secrets


def test_secret_values_of_one_pipeline_leave_out_other_pipelines_credentials() -> None:
    document = example()
    zoho(document)["source"]["auth"] = {"type": "bearer", "token": "literal-bearer-token"}
    config = parse_config(document, environ=ENV)
    assert "literal-bearer-token" in config.secret_values("zoho_items")
    assert "literal-bearer-token" not in config.secret_values("oracle_opportunities")
    assert "oracle-pass-123" in config.secret_values("oracle_opportunities")


def test_the_parsed_document_is_not_changed() -> None:
    document = example()
    original = copy.deepcopy(document)
    parse_config(document, environ={**ENV, "BATCHSYNC_DATABASE_URL": "sqlite:///other.db"})
    assert document == original
