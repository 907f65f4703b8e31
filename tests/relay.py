"""A TCP relay for the multi-host test: ``python -m tests.relay LISTEN_PORT TARGET_HOST
TARGET_PORT`` accepts on 127.0.0.1:LISTEN_PORT and copies each connection to the target both
ways. It lets an app host reach the sandbox (on another host) at a loopback address, the only
kind of plain-http Redtrust URL the config accepts."""

from __future__ import annotations

import asyncio
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(listen_port: int, host: str, port: int) -> None:
    """Relay 127.0.0.1:``listen_port`` to ``host``:``port`` until killed."""

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    server = await asyncio.start_server(accept, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
