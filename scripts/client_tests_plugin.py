"""pytest plugin for scripts/client_tests.sh: leaves out exactly the tests
scripts/client_tests.skip names. pytest's own --deselect matches node-id
prefixes, so "test_pipeline" would also drop "test_pipeline_no_transaction";
here an id matches itself, its parametrised variants ("id[...]") and, for a
class, its tests ("Class::..."), and nothing else."""

import os


def pytest_collection_modifyitems(config, items):
    path = os.environ.get("GOLDYLOX_DESELECT")
    if not path:
        return
    with open(path) as f:
        ids = [line.strip() for line in f if line.strip()]
    keep, drop = [], []
    for item in items:
        node = item.nodeid
        if any(node == i or node.startswith(i + "[") or node.startswith(i + "::") for i in ids):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
