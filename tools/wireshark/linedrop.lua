-- linedrop.lua: Wireshark / tshark (4.x) dissector for the linedrop upload protocol.
--
-- Wire format (client -> server), any number of messages on one TCP connection:
--   4-byte unsigned big-endian line count N, then exactly N lines, each ending in "\n".
--   A zero-line message means "done"; the k-th message of a connection is saved as k.txt.
-- Server -> client: one status byte after each message:
--   'A' accepted, 'Q' quitting (answer to the zero-line message), 'R' rejected (then the server closes).
--
-- Install: copy this file into your personal Lua plugin folder (see docs/wireshark.md), or load it
-- for one run with `tshark -X lua_script:linedrop.lua ...`.
-- The server port is a preference (Edit > Preferences > Protocols > LINEDROP, or
-- `-o linedrop.port:NNNN`); "Decode As..." (or `-d tcp.port==NNNN,linedrop`) works too.

local DEFAULT_PORT = 12100

local linedrop = Proto("linedrop", "Linedrop Upload Protocol")

local STATUS_ACCEPTED, STATUS_QUIT, STATUS_REJECTED = 0x41, 0x51, 0x52
local status_names = {
    [STATUS_ACCEPTED] = "Accepted",
    [STATUS_QUIT] = "Quitting",
    [STATUS_REJECTED] = "Rejected",
}

local f = {
    count = ProtoField.uint32("linedrop.count", "Line count", base.DEC, nil, nil,
        "Number of lines the message announces (4-byte big-endian header)"),
    msgno = ProtoField.uint32("linedrop.msgno", "Message number", base.DEC, nil, nil,
        "Position of the message within its TCP connection, starting at 1"),
    file = ProtoField.string("linedrop.file", "Saved as", base.ASCII,
        "File name the server stores the message under (k.txt)"),
    body_len = ProtoField.uint32("linedrop.body_len", "Body length", base.DEC, nil, nil,
        "Bytes of the message after the count, every newline included"),
    line = ProtoField.string("linedrop.line", "Line", base.UNICODE, "One line, without its newline"),
    line_no = ProtoField.uint32("linedrop.line_no", "Line number", base.DEC, nil, nil,
        "Position of the line within its message, starting at 1"),
    line_len = ProtoField.uint32("linedrop.line_len", "Line length", base.DEC, nil, nil,
        "Bytes in the line, its newline not counted"),
    response_in = ProtoField.framenum("linedrop.response_in", "Status in frame", base.NONE,
        frametype.RESPONSE, nil, "Frame holding the server's status byte for this message"),
    status = ProtoField.char("linedrop.status", "Status", base.HEX, status_names,
        nil, "Status byte the server sent: A accepted, Q quitting, R rejected"),
    status_msgno = ProtoField.uint32("linedrop.status_msgno", "Answers message", base.DEC, nil, nil,
        "Number of the message this status byte answers"),
    request_in = ProtoField.framenum("linedrop.request_in", "Message in frame", base.NONE,
        frametype.REQUEST, nil, "Frame in which the answered message was complete"),
    trailing = ProtoField.bytes("linedrop.trailing", "Data after the zero-line message", base.NONE,
        "Client bytes sent after the zero-line (done) message"),
    cut_msgno = ProtoField.uint32("linedrop.cut.msgno", "Unfinished message", base.DEC, nil, nil,
        "Number of the message the connection was closed in"),
    cut_count = ProtoField.uint32("linedrop.cut.count", "Announced line count", base.DEC, nil, nil,
        "Line count of the unfinished message (absent if the 4-byte count itself was cut)"),
    cut_lines = ProtoField.uint32("linedrop.cut.lines", "Complete lines received", base.DEC, nil, nil,
        "Lines of the unfinished message received in full"),
    cut_bytes = ProtoField.uint32("linedrop.cut.bytes", "Bytes received", base.DEC, nil, nil,
        "Bytes of the unfinished message received, count header included"),
}
linedrop.fields = {
    f.count, f.msgno, f.file, f.body_len, f.line, f.line_no, f.line_len, f.response_in,
    f.status, f.status_msgno, f.request_in, f.trailing,
    f.cut_msgno, f.cut_count, f.cut_lines, f.cut_bytes,
}

local e = {
    after_done = ProtoExpert.new("linedrop.expert.after_done", "Client data after the zero-line message",
        expert.group.PROTOCOL, expert.severity.WARN),
    bad_status = ProtoExpert.new("linedrop.expert.bad_status", "Status byte other than A, Q or R",
        expert.group.PROTOCOL, expert.severity.WARN),
    unsolicited = ProtoExpert.new("linedrop.expert.unsolicited", "Status byte with no message to answer",
        expert.group.SEQUENCE, expert.severity.WARN),
    rejected = ProtoExpert.new("linedrop.expert.rejected", "Server rejected the message",
        expert.group.RESPONSE_CODE, expert.severity.NOTE),
    done = ProtoExpert.new("linedrop.expert.done", "Zero-line message: client is done",
        expert.group.SEQUENCE, expert.severity.CHAT),
    cut = ProtoExpert.new("linedrop.expert.cut", "Connection closed in the middle of a message",
        expert.group.MALFORMED, expert.severity.WARN),
    cut_after_reject = ProtoExpert.new("linedrop.expert.cut_after_reject",
        "Connection closed in the middle of a message the server rejected",
        expert.group.SEQUENCE, expert.severity.NOTE),
    no_reassembly = ProtoExpert.new("linedrop.expert.no_reassembly",
        "Message continues in a later segment, but TCP reassembly is off",
        expert.group.REASSEMBLE, expert.severity.WARN),
}
linedrop.experts = {
    e.after_done, e.bad_status, e.unsolicited, e.rejected, e.done, e.cut, e.cut_after_reject,
    e.no_reassembly,
}

linedrop.prefs.port = Pref.uint("Server TCP port", DEFAULT_PORT,
    "TCP port the linedrop server listens on; the side sending to it is the client")

local PT_TCP = 2 -- pinfo.port_type of a TCP packet

---------------------------------------------------------------------------------------------------
-- Per-capture state. Everything below is filled on the first, in-order pass (pinfo.visited false)
-- and only read afterwards, so a packet dissected again (Wireshark GUI, tshark -2) shows the same.

-- Field extractors (tcp.stream, tcp.flags.fin) are not used: they return nothing when a pass builds
-- no protocol tree (such as the first pass of `tshark -2`). Connections are keyed by their
-- addresses and ports instead, and a SYN on the same addresses and ports starts a new one.

local streams   -- "[client]:port>[server]:port" -> per-connection state
local snapshots -- "frame:call" -> state at the start of that dissector call
local cuts      -- frame number -> what was unfinished when that frame's FIN/RST arrived
local call_frame, call_index -- numbering of dissector calls within one frame's dissection
local info_frame -- frame whose Info column this dissection already wrote

local function reset_state()
    streams, snapshots, cuts = {}, {}, {}
    call_frame, call_index, info_frame = -1, 0, -1
end
reset_state()

function linedrop.init()
    reset_state()
end

local function stream_key(client_addr, client_port, server_addr, server_port)
    return string.format("[%s]:%d>[%s]:%d", client_addr, client_port, server_addr, server_port)
end

local function get_stream(id, server_port)
    local s = streams[id]
    if not s then
        s = {
            next_msgno = 1,     -- number the next client message gets
            done = false,       -- a zero-line message was seen
            next_status = 1,    -- message number the next status byte answers
            partial = nil,      -- unfinished client message: {msgno, count, lines, bytes}
            rejected = false,   -- the server sent R
            cut_reported = false,
            server_port = server_port,
            msg_frame = {},     -- msgno -> frame in which the message was complete
            status_frame = {},  -- msgno -> frame holding its status byte
        }
        streams[id] = s
    end
    return s
end

-- TCP may call the dissector several times for one frame (a reassembled message, then the rest of
-- the segment). Calls are numbered within a frame; the numbering restarts with each dissection of
-- the frame (the post-dissector below marks the end of one).
local function call_key(pinfo)
    if call_frame ~= pinfo.number then
        call_frame, call_index = pinfo.number, 0
    end
    call_index = call_index + 1
    return pinfo.number .. ":" .. call_index
end

local function server_port_of(pinfo)
    local port = linedrop.prefs.port
    if pinfo.dst_port == port or pinfo.src_port == port then return port end
    local m = pinfo.match_uint -- the port that selected this dissector ("Decode As" included)
    if m == pinfo.dst_port or m == pinfo.src_port then return m end
    return math.min(pinfo.src_port, pinfo.dst_port)
end

local function plural(n, word)
    if n == 1 then return string.format("%d %s", n, word) end
    return string.format("%d %ss", n, word)
end

-- The Info column lists what this frame carries; the first item replaces TCP's text.
local function info(pinfo, text)
    if info_frame ~= pinfo.number then
        info_frame = pinfo.number
        pinfo.cols.info:set(text)
    else
        pinfo.cols.info:append("; " .. text)
    end
end

---------------------------------------------------------------------------------------------------
-- Client -> server

-- Adds one complete message to the tree. lines: list of {start, len}, offsets into tvb.
local function add_message(tvb, pinfo, tree, s, st, off, stop, count, lines)
    local msgno = st.next_msgno
    local body = stop - off - 4
    local label
    if count == 0 then
        label = string.format(", Message %d: 0 lines (done)", msgno)
    else
        label = string.format(", Message %d (%d.txt): %s, %s", msgno, msgno,
            plural(count, "line"), plural(body, "byte"))
    end
    local mt = tree:add(linedrop, tvb(off, stop - off))
    mt:append_text(label)
    mt:add(f.count, tvb(off, 4))
    mt:add(f.msgno, msgno):set_generated()
    if count > 0 then
        mt:add(f.file, string.format("%d.txt", msgno)):set_generated()
    end
    mt:add(f.body_len, body):set_generated()
    if count == 0 then
        mt:add_proto_expert_info(e.done)
    end
    for i, ln in ipairs(lines) do
        local text = ""
        if ln.len > 0 then text = tvb(ln.start, ln.len):string(ENC_UTF_8) end
        local li = mt:add(f.line, tvb(ln.start, ln.len + 1), text)
        li:append_text(string.format(" (%s)", plural(ln.len, "byte")))
        li:add(f.line_no, i):set_generated()
        if ln.len > 0 then
            li:add(f.line_len, tvb(ln.start, ln.len), ln.len)
        else
            li:add(f.line_len, ln.len):set_generated()
        end
    end
    local answered = s.status_frame[msgno]
    if answered then
        mt:add(f.response_in, answered):set_generated()
    end
    if not pinfo.visited then
        s.msg_frame[msgno] = pinfo.number
    end
    if count == 0 then
        info(pinfo, string.format("Msg %d: 0 lines (done)", msgno))
    else
        info(pinfo, string.format("Msg %d: %s (%d.txt)", msgno, plural(count, "line"), msgno))
    end
end

local function dissect_client(tvb, pinfo, tree, s, st)
    local len = tvb:len()
    local raw = tvb:raw(0, len) -- Lua string, 1-based
    local off = 0
    st.partial = nil
    while off < len do
        if st.done then
            local t = tree:add(linedrop, tvb(off, len - off))
            t:append_text(", data after the zero-line message")
            t:add(f.trailing, tvb(off, len - off))
            t:add_proto_expert_info(e.after_done,
                string.format("Client sent %s after its zero-line message",
                    plural(len - off, "byte")))
            info(pinfo, string.format("%s after done", plural(len - off, "byte")))
            return len
        end
        local count, lines = nil, {}
        local pos = off + 4
        if len - off >= 4 then
            count = tvb(off, 4):uint()
            while #lines < count do
                local nl = string.find(raw, "\n", pos + 1, true)
                if not nl then break end
                -- nl is the 1-based index of the newline, so nl - 1 is its offset in tvb
                lines[#lines + 1] = { start = pos, len = nl - 1 - pos }
                pos = nl
            end
        end
        if count == nil or #lines < count then
            st.partial = { msgno = st.next_msgno, count = count, lines = #lines, bytes = len - off }
            if pinfo.can_desegment > 0 then
                pinfo.desegment_offset = off
                pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
                return len
            end
            local t = tree:add(linedrop, tvb(off, len - off))
            t:append_text(string.format(", Message %d (unfinished in this segment)", st.next_msgno))
            if count ~= nil then t:add(f.count, tvb(off, 4)) end
            t:add(f.msgno, st.next_msgno):set_generated()
            t:add_proto_expert_info(e.no_reassembly)
            return len
        end
        add_message(tvb, pinfo, tree, s, st, off, pos, count, lines)
        st.next_msgno = st.next_msgno + 1
        if count == 0 then st.done = true end
        off = pos
    end
    return len
end

---------------------------------------------------------------------------------------------------
-- Server -> client

local function dissect_server(tvb, pinfo, tree, s, st)
    local len = tvb:len()
    for i = 0, len - 1 do
        local byte = tvb(i, 1):uint()
        local msgno = st.next_status
        st.next_status = st.next_status + 1
        local name = status_names[byte]
        local shown = (byte >= 0x20 and byte < 0x7f) and string.char(byte) or string.format("\\x%02x", byte)
        local t = tree:add(linedrop, tvb(i, 1))
        t:append_text(string.format(", Status %s (%s) for message %d", shown, name or "unknown", msgno))
        t:add(f.status, tvb(i, 1))
        t:add(f.status_msgno, msgno):set_generated()
        local req = s.msg_frame[msgno]
        if req and req <= pinfo.number then
            t:add(f.request_in, req):set_generated()
        end
        if name == nil then
            t:add_proto_expert_info(e.bad_status,
                string.format("Unexpected status byte 0x%02x (not A, Q or R)", byte))
        elseif byte == STATUS_REJECTED then
            t:add_proto_expert_info(e.rejected, string.format("Server rejected message %d", msgno))
        end
        if msgno > st.started then
            t:add_proto_expert_info(e.unsolicited,
                string.format("Status byte %d, but the client has sent only %s", msgno,
                    plural(st.started, "message")))
        end
        if not pinfo.visited then
            if s.status_frame[msgno] == nil then s.status_frame[msgno] = pinfo.number end
            if byte == STATUS_REJECTED then s.rejected = true end
        end
        info(pinfo, string.format("Status %s (%s) for msg %d", shown, name or "unknown", msgno))
    end
    return len
end

---------------------------------------------------------------------------------------------------

-- Shows a connection closed in the middle of a message (found by the post-dissector below).
local function add_cut(tvb, pinfo, tree, c)
    local what
    if c.count == nil then
        what = string.format("%s of its 4-byte line count", plural(c.bytes, "byte"))
    else
        what = string.format("%d of %s", c.lines, plural(c.count, "line"))
    end
    local text = string.format("Connection closed by the %s (%s) in the middle of message %d: %s received",
        c.by, c.flag, c.msgno, what)
    local t = tree:add(linedrop)
    t:append_text(string.format(", connection closed (%s) in the middle of message %d", c.flag, c.msgno))
    t:add(f.cut_msgno, c.msgno):set_generated()
    if c.count ~= nil then t:add(f.cut_count, c.count):set_generated() end
    t:add(f.cut_lines, c.lines):set_generated()
    t:add(f.cut_bytes, c.bytes):set_generated()
    if c.rejected then
        t:add_proto_expert_info(e.cut_after_reject, text .. " (after the server rejected it)")
    else
        t:add_proto_expert_info(e.cut, text)
    end
    pinfo.cols.info:append(string.format(" [closed mid-message %d]", c.msgno))
    return tvb:len()
end

local cut_to_show -- set by the post-dissector while it calls this dissector for a FIN/RST frame

function linedrop.dissector(tvb, pinfo, tree)
    if cut_to_show then return add_cut(tvb, pinfo, tree, cut_to_show) end
    local len = tvb:len()
    if len == 0 then return 0 end
    pinfo.cols.protocol = "LINEDROP"

    local server_port = server_port_of(pinfo)
    local from_client = pinfo.dst_port == server_port
    local key = call_key(pinfo)
    local snap = pinfo.visited and snapshots[key]
    if not snap then
        local sid
        if from_client then
            sid = stream_key(tostring(pinfo.src), pinfo.src_port, tostring(pinfo.dst), pinfo.dst_port)
        else
            sid = stream_key(tostring(pinfo.dst), pinfo.dst_port, tostring(pinfo.src), pinfo.src_port)
        end
        local s = get_stream(sid, server_port)
        snap = {
            stream = s,
            next_msgno = s.next_msgno,
            done = s.done,
            next_status = s.next_status,
            started = s.next_msgno - 1 + (s.partial and 1 or 0),
        }
        if not pinfo.visited then snapshots[key] = snap end
    end
    local s = snap.stream
    -- work on a copy so that dissecting a frame again leaves the stored state alone
    local st = {
        next_msgno = snap.next_msgno, done = snap.done,
        next_status = snap.next_status, started = snap.started,
    }

    local consumed
    if from_client then
        consumed = dissect_client(tvb, pinfo, tree, s, st)
        if not pinfo.visited then
            s.next_msgno, s.done, s.partial = st.next_msgno, st.done, st.partial
        end
    else
        consumed = dissect_server(tvb, pinfo, tree, s, st)
        if not pinfo.visited then
            s.next_status = st.next_status
        end
    end
    return consumed
end

---------------------------------------------------------------------------------------------------
-- Post-dissector: a FIN or RST without payload never reaches the dissector above, so connection
-- close is checked here, after every frame. It also ends the numbering of dissector calls.

local linedrop_close = Proto("linedrop_close", "Linedrop connection-close check")
local linedrop_handle

-- The TCP flags byte of this frame, found as the first place in the frame holding the source and
-- destination ports followed, 12 bytes on, by a sane TCP header length. Returns nil if none.
local function tcp_flags(tvb, src_port, dst_port)
    local n = tvb:len()
    if n < 20 then return nil end
    local raw = tvb:raw(0, n)
    local pattern = string.char(math.floor(src_port / 256), src_port % 256,
        math.floor(dst_port / 256), dst_port % 256)
    local from = 1
    while true do
        local i = string.find(raw, pattern, from, true)
        if i == nil or i + 13 > n then return nil end
        local hlen = math.floor(string.byte(raw, i + 12) / 16) * 4
        if hlen >= 20 and i - 1 + hlen <= n then
            return string.byte(raw, i + 13)
        end
        from = i + 1
    end
end

local function bit_set(flags, bit) -- bit: 1, 2, 4, ... (no bit library needed, Lua 5.2 to 5.4)
    return math.floor(flags / bit) % 2 == 1
end
local TH_FIN, TH_SYN, TH_RST = 1, 2, 4

function linedrop_close.dissector(tvb, pinfo, tree)
    call_frame, call_index, info_frame = -1, 0, -1

    if not pinfo.visited and pinfo.port_type == PT_TCP then
        local src, dst = tostring(pinfo.src), tostring(pinfo.dst)
        local by = "client"
        local sid = stream_key(src, pinfo.src_port, dst, pinfo.dst_port)
        local s = streams[sid]
        if s == nil then
            by = "server"
            sid = stream_key(dst, pinfo.dst_port, src, pinfo.src_port)
            s = streams[sid]
        end
        local flags = s and tcp_flags(tvb, pinfo.src_port, pinfo.dst_port)
        if flags then
            if bit_set(flags, TH_SYN) then
                streams[sid] = nil -- a new connection on the same addresses and ports
            elseif (bit_set(flags, TH_FIN) or bit_set(flags, TH_RST)) and s.partial and not s.cut_reported then
                s.cut_reported = true
                local p = s.partial
                cuts[pinfo.number] = {
                    msgno = p.msgno, count = p.count, lines = p.lines, bytes = p.bytes,
                    by = by,
                    flag = bit_set(flags, TH_RST) and "RST" or "FIN",
                    rejected = s.rejected,
                }
            end
        end
    end

    local c = cuts[pinfo.number]
    if c == nil then return end
    -- Shown through the linedrop dissector, so that the expert info is listed under LINEDROP.
    linedrop_handle = linedrop_handle or Dissector.get("linedrop")
    cut_to_show = c
    local ok, err = pcall(linedrop_handle.call, linedrop_handle, tvb, pinfo, tree)
    cut_to_show = nil
    if not ok then error(err) end
end

register_postdissector(linedrop_close)

---------------------------------------------------------------------------------------------------
-- Registration

local tcp_port = DissectorTable.get("tcp.port")
local registered_port = DEFAULT_PORT
tcp_port:add(registered_port, linedrop)
tcp_port:add_for_decode_as(linedrop)

function linedrop.prefs_changed()
    local port = linedrop.prefs.port
    if port ~= registered_port then
        if registered_port ~= 0 then tcp_port:remove(registered_port, linedrop) end
        registered_port = port
        if port ~= 0 then tcp_port:add(port, linedrop) end
    end
end
