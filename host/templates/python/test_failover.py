"""Native unit tests: `python3 -m unittest`."""

import unittest

from policy import BYPASS, ERROR, KEEP, PROBE, PROBE_OK, RESTORE, Policy


class PolicyTest(unittest.TestCase):
    def test_errors_in_a_row_open_the_breaker_and_a_good_probe_closes_it(self) -> None:
        p = Policy({"errors": "2"})
        p.observe(bytes([2, 2]), bytes([ERROR, ERROR]), [10, 11])
        self.assertEqual(p.decide(2, 12)[0], BYPASS)
        self.assertEqual(p.decide(2, 200)[0], PROBE)
        p.observe(bytes([2]), bytes([PROBE_OK]), [201])
        self.assertEqual(p.decide(2, 202)[0], RESTORE)
        self.assertEqual(p.decide(2, 203)[0], KEEP)


if __name__ == "__main__":
    unittest.main()
