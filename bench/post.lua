-- wrk script: POST the JSON body in the BODY environment variable, or in the file BODY_FILE
-- (an environment variable holds at most 128 KiB; the over-size batch is 1 MB).
-- TRACEPARENT: a W3C traceparent header on every request (the tracing section).
-- HEADER_LENGTH: the body is a V2 binary-tensor request, its JSON header that long.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local header_length = os.getenv("HEADER_LENGTH")
if header_length then
  wrk.headers["Content-Type"] = "application/octet-stream"
  wrk.headers["Inference-Header-Content-Length"] = header_length
end
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
