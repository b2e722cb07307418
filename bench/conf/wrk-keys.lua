-- wrk script for the HTTP/1.1 load: GET /?key=N with N cycling over 1000
-- values (each thread prebuilds the 1000 requests), and a one-line JSON
-- summary for bench/load.ts. Latencies are in microseconds.
local requests = {}
local count = 0

function init(args)
  for i = 0, 999 do
    requests[i] = wrk.format("GET", "/?key=" .. i)
  end
end

function request()
  count = count + 1
  return requests[count % 1000]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationUs":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
