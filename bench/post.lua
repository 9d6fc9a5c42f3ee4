-- wrk script: POST the JSON body in the BODY environment variable, or in the file BODY_FILE
-- (an environment variable holds at most 128 KiB; the over-size batch is 1 MB).
-- TRACEPARENT: a W3C traceparent header on every request (the tracing section).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local traceparent = os.getenv("TRACEPARENT")
if traceparent then
  wrk.headers["traceparent"] = traceparent
end
local path = os.getenv("BODY_FILE")
if path then
  local file = assert(io.open(path, "rb"))
  wrk.body = file:read("*a")
  file:close()
else
  wrk.body = os.getenv("BODY")
end
