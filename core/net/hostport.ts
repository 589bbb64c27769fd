// HOST:PORT addresses as the CLIs and configs write them (`127.0.0.1:50001`, `[::1]:50001`).

/** Host and port of `text`, split at the last colon; an IPv6 host loses its brackets. Does not validate. */
export function splitHostPort(text: string): { host: string; port: number } {
  const at = text.lastIndexOf(':');
  return { host: text.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(text.slice(at + 1)) };
}

/** Host and port of `text`, or undefined unless it is a host, a colon and a port 0..65535. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const hp = splitHostPort(text);
  const valid = text.lastIndexOf(':') > 0 && Number.isInteger(hp.port) && hp.port >= 0 && hp.port <= 65535;
  return valid ? hp : undefined;
}

/** `host:port`, with brackets around an IPv6 host. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
