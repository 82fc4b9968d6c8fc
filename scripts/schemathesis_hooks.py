"""schemathesis hooks for scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

A prompt version is addressed by its path (`/prompts/greeting.v2`) *and* its `environment`
query parameter, while schemathesis' `use_after_free` check compares paths only: after
`DELETE /prompts/greeting.v2?environment=staging` it counts a successful
`PATCH /prompts/greeting.v2?environment=development` (another version, still there) as a use
after free. Likewise `GET /prompts/greeting.v2/versions` lists the versions of `greeting` (the
suffix is ignored), so deleting one version does not make it 404. This check is the same one,
minus exactly those cases; scripts/schemathesis.toml turns the built-in off for the prompt paths
only.
"""

import re

import schemathesis
from schemathesis.openapi.checks import UseAfterFree
from schemathesis.specs.openapi.checks import use_after_free

PROMPT_PATH = "/prompts/{prompt_id}"
# A version suffix, as promptd reads it: a trailing `.v<digits>` or `_v<digits>`.
VERSION_SUFFIX = re.compile(r".[._]v[0-9]+$")


def _environment(case):
    # An empty environment means "not given", as in LiteLLM.
    return (case.query or {}).get("environment") or None


@schemathesis.check
def use_after_free_per_environment(ctx, response, case):
    """`use_after_free` for prompt versions: a DELETE scoped to an environment frees only that
    environment's versions."""
    if not case.operation.path.startswith(PROMPT_PATH):
        return None
    try:
        return use_after_free(ctx, response, case)
    except UseAfterFree as failure:
        deleted = next(
            (c for c in ctx.internals.find_related(case_id=case.id) if c.id == failure.deleted_case_id),
            None,
        )
        if deleted is None:
            raise
        # /versions lists the whole prompt: only deleting the prompt itself (no .vN) frees it.
        if case.operation.path.endswith("/versions") and VERSION_SUFFIX.search(
            str((deleted.path_parameters or {}).get("prompt_id", ""))
        ):
            return None
        deleted_in = _environment(deleted)
        # A DELETE without an environment removed the prompt (or its only version) everywhere.
        if deleted_in is None or deleted_in == _environment(case):
            raise
        return None
