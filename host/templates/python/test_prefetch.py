"""Native unit tests: `python3 -m unittest`."""

import unittest

from policy import Policy


class PolicyTest(unittest.TestCase):
    def test_a_miss_proposes_what_followed_it_last_time(self) -> None:
        p = Policy(100, {})
        p.observe([1, 2, 3, 1], bytes([1, 1, 1, 0]))
        self.assertEqual(p.propose(8), [2])
        self.assertEqual(p.propose(8), [])


if __name__ == "__main__":
    unittest.main()
