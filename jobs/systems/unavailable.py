"""Systems of the paper that are not publicly available: always NS, as in the paper's artifact."""

from jobs.systems.base import System


class NotPublic(System):
    def __init__(self, name: str):
        self.name = name

    def unavailable(self):
        return f"{self.name} is not publicly available (not in the FlashTensor artifact either)"


def korch():
    return NotPublic("korch")


def einnet():
    return NotPublic("einnet")
