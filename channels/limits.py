"""Per-client rate limits of the public channels: REST messages, socket.io messages and connections.

A token bucket per client address and kind: a client may send `burst` at once, then `rate` per
`window` seconds (defaults: 10 messages a minute with a burst of 5; 20 socket.io connections a
minute). A refused message is answered, never dropped: HTTP 429 with `Retry-After` on REST, a bot
message on socket.io (channels/rest.py, channels/webchat.py). Messaging-app webhooks are not
limited here: they come from the apps' servers and are verified by signature.

The client address is the direct peer's, or the one in `X-Forwarded-For` when the direct peer is a
trusted proxy (TRUSTED_PROXIES): the right-most address in that header that is not a trusted proxy
itself, since a client can write anything to the left of what its proxies add.

Where the counters live (RATE_LIMIT_STORE): `memory` (one process), `redis` (shared by every
instance on that Redis, so limits hold across instances), or `auto` (the default): Redis when the
lock store is Redis (the scaled setup, endpoints.scaled.yml, or LOCK_STORE=redis) or the server runs
several worker processes (SANIC_WORKERS: each worker would count on its own), memory otherwise. If
Redis cannot be reached, messages are let through (and logged): the limiter never takes the
assistant down. A refused address is logged once until it is let through again, not at every
message: a client sending as fast as it can must not fill the log (nor spend the CPU on it).
"""
import ipaddress
import logging
import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

logger = logging.getLogger(__name__)

# Settings in .env (documented in .env.example and docs/SECURITY.md) and their defaults.
DEFAULTS = {
    "RATE_LIMIT_MESSAGES": "10",  # messages per window and address (REST and socket.io); 0: no limit
    "RATE_LIMIT_BURST": "5",  # messages at once before the rate applies
    "RATE_LIMIT_CONNECTIONS": "20",  # socket.io connections per window and address (also the burst); 0: no limit
    "RATE_LIMIT_WINDOW": "60",  # seconds
    "RATE_LIMIT_STORE": "auto",  # auto, memory or redis
    "TRUSTED_PROXIES": "",  # addresses or networks (CIDR) of reverse proxies, space separated
}
MEMORY_BUCKETS = 100_000  # addresses remembered per kind in memory (least recently seen forgotten)

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def setting(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or DEFAULTS[name]).strip()


def parse_proxies(text: str) -> List[Network]:
    """TRUSTED_PROXIES: space (or comma) separated addresses or networks."""
    networks = []
    for item in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"TRUSTED_PROXIES: {item!r} is not an IP address or network") from None
    return networks


def _ip(text: str) -> Optional[Any]:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def client_address(peer: str, forwarded_for: Optional[str], proxies: Sequence[Network]) -> str:
    """The client's address: the direct peer, unless it is a trusted proxy; then the right-most
    address of X-Forwarded-For that is not a trusted proxy (what the first untrusted hop said)."""
    def trusted(address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in net for net in proxies)

    if not forwarded_for or not trusted(peer):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            return hop if _ip(hop) is not None else peer  # garbage from the client: count it on the proxy
    return hops[0] if hops else peer


@dataclass
class Decision:
    allowed: bool
    retry_after: float = 0.0  # seconds until the next message would be allowed

    @property
    def retry_after_seconds(self) -> int:
        """Retry-After is whole seconds, rounded up (at least 1)."""
        return max(1, math.ceil(self.retry_after))


class MemoryBuckets:
    """Token buckets in this process."""

    def __init__(self, size: int = MEMORY_BUCKETS) -> None:
        self.size = size
        self._buckets: "OrderedDict[str, Tuple[float, float]]" = OrderedDict()

    async def take(self, key: str, capacity: float, rate: float) -> float:
        """Take a token from `key`'s bucket; 0 if there was one, else the seconds until there is."""
        now = time.monotonic()
        tokens, at = self._buckets.pop(key, (capacity, now))
        tokens = min(capacity, tokens + (now - at) * rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.size:
            self._buckets.popitem(last=False)
        return wait


# One atomic step of a token bucket in Redis, timed by Redis' own clock (the same for every instance).
TAKE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return tostring(wait)
"""


PROCESS_BUCKETS = MemoryBuckets()  # one for REST and socket.io, as in Redis: a client's messages count together


class RedisBuckets:
    """Token buckets in Redis, shared by every instance that uses the same Redis and prefix."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(TAKE_SCRIPT)

    @classmethod
    def connect(cls, host: str = "127.0.0.1", port: int = 6379, db: int = 0, password: Optional[str] = None,
                prefix: str = "umb") -> "RedisBuckets":
        import redis.asyncio

        client = redis.asyncio.Redis(host=host, port=int(port), db=int(db), password=password or None,
                                     socket_timeout=1, socket_connect_timeout=1)
        return cls(client, f"{prefix}:ratelimit:")

    async def take(self, key: str, capacity: float, rate: float) -> float:
        return float(await self._script(keys=[self.prefix + key], args=[capacity, rate]))


def store_from_lock_store(lock_store: Any, env: Mapping[str, str]) -> Optional[RedisBuckets]:
    """Redis buckets on the lock store's Redis, if the lock store is Redis (the scaled setup)."""
    red = getattr(lock_store, "red", None)
    kwargs = getattr(getattr(red, "connection_pool", None), "connection_kwargs", None)
    if not kwargs or "host" not in kwargs:
        return None
    return RedisBuckets.connect(kwargs["host"], kwargs.get("port", 6379), kwargs.get("db", 0), kwargs.get("password"),
                                env.get("REDIS_KEY_PREFIX") or "umb")


def workers(env: Mapping[str, str]) -> int:
    """The Rasa server's worker processes (SANIC_WORKERS, set by scripts/serve.py)."""
    try:
        return max(1, int(env.get("SANIC_WORKERS") or 1))
    except ValueError:
        return 1


class Limits:
    """The limits of one channel, from the settings; `check` says whether a client may go on."""

    def __init__(self, env: Mapping[str, str] = os.environ, store: Any = None) -> None:
        self.env = dict(env)
        self.window = float(setting(env, "RATE_LIMIT_WINDOW"))
        self.limits: Dict[str, Tuple[float, float]] = {}  # kind -> (capacity, tokens per second)
        messages = float(setting(env, "RATE_LIMIT_MESSAGES"))
        if messages > 0:
            self.limits["message"] = (max(1.0, float(setting(env, "RATE_LIMIT_BURST"))), messages / self.window)
        connections = float(setting(env, "RATE_LIMIT_CONNECTIONS"))
        if connections > 0:
            self.limits["connect"] = (connections, connections / self.window)
        self.proxies = parse_proxies(setting(env, "TRUSTED_PROXIES"))
        self.store_kind = setting(env, "RATE_LIMIT_STORE").lower()
        if self.store_kind not in ("auto", "memory", "redis"):
            raise ValueError(f"RATE_LIMIT_STORE must be auto, memory or redis, not {self.store_kind!r}")
        self.store = store
        # what was refused and not let through since -> until when (time.monotonic()): asked again of
        # the store only then, as the bucket has no token before (a client sending on costs no round trip)
        self._refusing: "OrderedDict[str, float]" = OrderedDict()

    def describe(self) -> str:
        return (f"rate limits per address: {setting(self.env, 'RATE_LIMIT_MESSAGES')} messages per "
                f"{self.window:g} s (burst {setting(self.env, 'RATE_LIMIT_BURST')}), "
                f"{setting(self.env, 'RATE_LIMIT_CONNECTIONS')} socket.io connections per {self.window:g} s, "
                f"trusted proxies: {' '.join(map(str, self.proxies)) or 'none'}")

    def address(self, peer: str, forwarded_for: Optional[str]) -> str:
        return client_address(peer, forwarded_for, self.proxies)

    def _redis_from_settings(self) -> "RedisBuckets":
        env = self.env
        return RedisBuckets.connect(env.get("REDIS_HOST") or "127.0.0.1", env.get("REDIS_PORT") or 6379,
                                    env.get("REDIS_DB") or 0, env.get("REDIS_PASSWORD"), env.get("REDIS_KEY_PREFIX") or "umb")

    def _resolve_store(self) -> Any:
        if self.store is None:
            redis_store = None
            if self.store_kind == "redis":
                redis_store = self._redis_from_settings()
            elif self.store_kind == "auto":
                try:
                    from sanic import Sanic

                    agent = getattr(Sanic.get_app().ctx, "agent", None)
                except Exception:
                    agent = None
                if agent is None:
                    return PROCESS_BUCKETS  # not ready to tell yet: decide on a later message
                redis_store = store_from_lock_store(agent.lock_store, self.env)
                if redis_store is None and workers(self.env) > 1:  # a custom lock store: REDIS_* then
                    redis_store = self._redis_from_settings()
            elif workers(self.env) > 1:
                logger.warning("RATE_LIMIT_STORE=memory with %d worker processes: each counts on its own, so a "
                               "client may send %d times the limit (RATE_LIMIT_STORE=auto counts in Redis)",
                               workers(self.env), workers(self.env))
            self.store = redis_store or PROCESS_BUCKETS
            logger.info("Rate limit counters: %s", "Redis (shared by the instances)" if redis_store else "in memory")
        return self.store

    async def check(self, kind: str, address: str) -> Decision:
        """Whether `address` may send one more of `kind` ("message" or "connect") now."""
        if kind not in self.limits:
            return Decision(True)
        capacity, rate = self.limits[kind]
        key, now = f"{kind}:{address}", time.monotonic()
        if self._refusing.get(key, 0.0) > now:
            return Decision(False, self._refusing[key] - now)
        store = self._resolve_store()
        try:
            wait = await store.take(key, capacity, rate)
        except Exception as e:  # Redis down: let it through rather than refuse everybody
            logger.warning("Rate limit not checked for %s (%s: %s): let through", address, type(e).__name__, e)
            return Decision(True)
        if wait > 0:
            if key not in self._refusing:
                logger.info("Rate limit: %s of %s refused, retry in %.1f s (further refusals not logged until "
                            "one is let through)", kind, address, wait)
            self._refusing[key] = now + wait
            if len(self._refusing) > MEMORY_BUCKETS:
                self._refusing.popitem(last=False)
        elif self._refusing:
            self._refusing.pop(key, None)
        return Decision(wait <= 0, wait)


def slow_down_text(decision: Decision, language: str = "en") -> str:
    """What a refused client is told, in English or Polish ("pl")."""
    seconds = decision.retry_after_seconds
    if language == "pl":
        few = seconds % 10 in (2, 3, 4) and seconds % 100 not in (12, 13, 14)
        unit = "sekundę" if seconds == 1 else "sekundy" if few else "sekund"
        return (f"Wysyłają Państwo wiadomości szybciej, niż mogę odpowiadać wszystkim. Proszę odczekać {seconds} "
                f"{unit} i wysłać wiadomość ponownie.")
    return (f"You are sending messages faster than I can answer everybody. Please wait {seconds} "
            f"second{'s' if seconds != 1 else ''} and send your message again.")


def accepted_language(header: Optional[str]) -> str:
    """"pl" when an HTTP Accept-Language header puts Polish before English, else "en"."""
    for part in (header or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith(("pl", "en")):
            return tag[:2]
    return "en"
