"""The Lua scripts of the Redis store and the shared state: each runs atomically in Redis.

Why a cancel is decided inside Redis
------------------------------------
A prediction's status is a function of its record and the time: it ends naturally at
``created + starting + processing``, at its deadline, or at its cancel time, whichever
comes first. Records only change by a cancel, which sets ``canceled_at``; the time
moves forward only. Once any replica has shown a prediction in a terminal status it
must never change, so a cancel must never set a ``canceled_at`` earlier than the time
at which some replica showed the record, as it stood before the cancel, ended.

Readers take their clock *before* they read the record (``now = clock.now()``, then
``get``). A cancel reads its time *inside* :data:`CANCEL`, atomically with the
check-and-write: Redis ``TIME`` plus the shared clock offset
(``{prefix}clock-offset``) when the replicas run on the real clock. Redis runs one
command at a time, so take a reader that got the record without the cancel: its read
ran before the script, and its time was taken before its read, so its time is at
most the script's time (the replicas' wall clocks are Redis's, on one host or kept
equal by NTP, and a replica's offset never exceeds the shared one: it only moves to
totals read from that key). If that reader showed the prediction ended, its natural
end (or deadline) is at or before the reader's time, so at or before the script's
time too, and the script leaves the record as it is. If the reader got the record
with the cancel, it shows the canceled status from then on. Either way, what a reader
has shown ended stays ended. Deciding the cancel time in Python before the write
(even inside ``WATCH``/``MULTI``) leaves a window in which a reader can read the
uncanceled record at a later time than the cancel's, which is the race this closes.

With a fake clock (tests) time moves only when told to, so the store reads the clock
just before sending the script and passes that time in.

Why a create can be too late
----------------------------
A create sends :data:`ADD` and reads the answer with a socket timeout. If Redis stalls
(a ``SIGSTOP``, a slow disk, a long command) the answer may not come in time and the
request is answered 503, yet Redis runs the script once it resumes: the prediction a
client was told failed would be stored, and a client retrying it would create it
twice. So the store passes a deadline, in Redis's time: half the socket timeout after
sending. A script that starts after it stores nothing and answers ``-2``; one that
starts before it leaves the answer at least half the timeout to arrive (only a stall of
Redis between running the script and writing its answer, at least that long, can still
lose it). The client's own retry of a create whose first attempt did run finds the very
copy it sent (each call marks its copy with a random ``$add`` field) and answers success
(``-3``); a second create of the same record is still refused (``-1``).
"""

from __future__ import annotations

from typing import Final

import redis

__all__ = [
    "ADD",
    "ADD_DUPLICATE",
    "ADD_SAME",
    "ADD_TOO_LATE",
    "CANCEL",
    "CANCEL_CHANGED",
    "CANCEL_ENDED",
    "CANCEL_GONE",
    "CANCEL_LOST",
    "SHARE",
    "CreateTooLateError",
    "check_added",
]

#: :data:`ADD` answers: the id holds another record; too late, nothing stored; this very
#: record was stored by an earlier attempt. Otherwise the insertion number (>= 0).
ADD_DUPLICATE: Final = -1
ADD_TOO_LATE: Final = -2
ADD_SAME: Final = -3

# KEYS: record, insertion counter, index. ARGV: the encoded record (marked by the call
# when there is a deadline), its id, the creation time's hex digits, the deadline in
# Redis's time ('' for none).
ADD: Final = """
local existing = redis.call('GET', KEYS[1])
if existing then
    if existing == ARGV[1] and ARGV[4] ~= '' then
        return -3
    end
    return -1
end
if ARGV[4] ~= '' then
    local t = redis.call('TIME')
    if tonumber(t[1]) + tonumber(t[2]) / 1000000 > tonumber(ARGV[4]) then
        return -2
    end
end
local sequence = redis.call('INCR', KEYS[2]) - 1
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[3] .. string.format('%010x', sequence) .. ':' .. ARGV[2])
return sequence
"""

#: :data:`CANCEL` answers (else the cancel time, as text): no such record; the record
#: changed since it was read; it had ended at the script's time (left as it is); the
#: shared state is gone (Redis lost its data: restore it, then try again).
CANCEL_GONE: Final = 0
CANCEL_CHANGED: Final = 1
CANCEL_ENDED: Final = 2
CANCEL_LOST: Final = 3

# KEYS: record, shared clock offset, shared-state epoch. ARGV: the record as read, its
# end as it stands (a float's repr), the rest of its encoding after the cancel time,
# the cancel time ('' for Redis TIME plus the shared offset).
CANCEL: Final = """
local raw = redis.call('GET', KEYS[1])
if not raw then
    return 0
end
if raw ~= ARGV[1] then
    return 1
end
local at = ARGV[4]
if at == '' then
    if redis.call('EXISTS', KEYS[3]) == 0 then
        return 3
    end
    local t = redis.call('TIME')
    local offset = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
    at = string.format('%.6f', tonumber(t[1]) + tonumber(t[2]) / 1000000 + offset)
end
if tonumber(at) >= tonumber(ARGV[2]) then
    return 2
end
redis.call('SET', KEYS[1], '{"canceled_at":' .. at .. ARGV[3])
return at
"""

# KEYS: epoch, webhook secret, clock offset. ARGV: this replica's secret, '1' to
# replace a stored one (a secret the operator chose), this replica's clock offset, a
# new epoch id. Keeps a stored secret (the first one stored wins), raises the offset to
# this replica's if it is further (clocks never go back), marks the state present.
# Answers the secret, the offset and the epoch now stored.
SHARE: Final = """
if ARGV[2] == '1' then
    redis.call('SET', KEYS[2], ARGV[1])
else
    redis.call('SET', KEYS[2], ARGV[1], 'NX')
end
local offset = redis.call('GET', KEYS[3])
if tonumber(ARGV[3]) > (tonumber(offset or '0') or 0) then
    redis.call('SET', KEYS[3], ARGV[3])
    offset = ARGV[3]
end
redis.call('SET', KEYS[1], ARGV[4], 'NX')
return {redis.call('GET', KEYS[2]), offset or '0', redis.call('GET', KEYS[1])}
"""


class CreateTooLateError(redis.TimeoutError):
    """Redis ran a create after its deadline, so stored nothing (it had stalled)."""


def check_added(position: object, prediction_id: str) -> None:
    """Raises: KeyError: if the add script answered that the id was already taken;
    CreateTooLateError: if it ran past its deadline and stored nothing."""
    if position == ADD_DUPLICATE:
        raise KeyError(f"duplicate prediction id {prediction_id}")
    if position == ADD_TOO_LATE:
        raise CreateTooLateError(
            f"Redis ran the create of {prediction_id} past its deadline; nothing was stored"
        )
