//! Pure content mapping: a line's `message.content` to parts, with texts moved rather than
//! copied, the raw frame kept without bulky content, and a usage object's token counts.

use hindcast_core::json_text;
use hindcast_core::model::{MessagePart, PartKind};
use hindcast_core::provider::ParseReport;
use serde_json::{Map, Value, json};

/// Key under which a slimmed field keeps the size of what it held.
pub const OMITTED_BYTES: &str = "__omitted_bytes";

/// The text of a user message's content (string, or the text blocks of an array).
pub fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(text) => Some(text.clone()),
        Value::Array(blocks) => {
            let texts: Vec<&str> = blocks
                .iter()
                .filter(|block| block["type"] == "text")
                .filter_map(|block| block["text"].as_str())
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

/// The native envelope of a (slimmed) line without bulky content: message content, tool result
/// bodies, snapshots and long system text are replaced by their size. Consumes the line, so
/// what the frame keeps is moved, not copied.
pub fn raw_frame(line: Value) -> Value {
    let Value::Object(fields) = line else { return Value::Null };
    let frame = fields
        .into_iter()
        .map(|(key, value)| {
            let slimmed = match key.as_str() {
                "message" => match value {
                    Value::Object(mut message) => {
                        message.remove("content");
                        Value::Object(message)
                    }
                    other => other,
                },
                "toolUseResult" | "snapshot" => {
                    let omitted = value.get(OMITTED_BYTES).and_then(Value::as_u64);
                    json!({ "omitted_bytes": omitted.unwrap_or(json_text::text_len(&value) as u64) })
                }
                "content" if value.as_str().is_none_or(|text| text.len() > 1024) => {
                    json!({ "omitted_bytes": json_text::text_len(&value) })
                }
                _ => value,
            };
            (key, slimmed)
        })
        .collect();
    Value::Object(frame)
}

/// Takes the string at `key` out of `block` (`None` when it is missing or not a string).
fn take_text(block: &mut Value, key: &str) -> Option<String> {
    match block.get_mut(key).map(Value::take) {
        Some(Value::String(text)) => Some(text),
        _ => None,
    }
}

/// One content block as a part, its text moved into the part. Unknown block types are kept as
/// `other` and counted.
fn block_part(mut block: Value, report: &mut ParseReport) -> MessagePart {
    let block_type = block["type"].as_str().unwrap_or("(missing type)").to_owned();
    let block_type = block_type.as_str();
    match block_type {
        "text" => MessagePart { text: take_text(&mut block, "text"), ..MessagePart::new(PartKind::Text) },
        "thinking" => MessagePart { text: take_text(&mut block, "thinking"), ..MessagePart::new(PartKind::Thinking) },
        "redacted_thinking" => MessagePart {
            metadata: Some(json!({ "redacted": true, "data_bytes": block["data"].as_str().map_or(0, str::len) })),
            ..MessagePart::new(PartKind::Thinking)
        },
        "tool_use" | "server_tool_use" => MessagePart {
            tool_name: take_text(&mut block, "name"),
            tool_call_id: take_text(&mut block, "id"),
            tool_input: block.get_mut("input").map(Value::take),
            metadata: (block_type == "server_tool_use").then(|| json!({ "server": true })),
            ..MessagePart::new(PartKind::ToolCall)
        },
        "tool_result" | "web_search_tool_result" | "advisor_tool_result" => tool_result_part(&mut block, block_type),
        "image" => MessagePart { metadata: Some(image_metadata(&block)), ..MessagePart::new(PartKind::Image) },
        _ => {
            report.unknown_records += 1;
            let mut metadata = json!({ "type": block_type });
            if block_type == "document" {
                metadata["media_type"] = block["source"]["media_type"].clone();
            }
            MessagePart { metadata: Some(metadata), ..MessagePart::new(PartKind::Other) }
        }
    }
}

/// Kind, media type and decoded size of an image; the base64 data itself is not stored.
fn image_metadata(block: &Value) -> Value {
    let source = &block["source"];
    let encoded = source["data"].as_str().map_or(0, str::len);
    json!({
        "source_type": source["type"],
        "media_type": source["media_type"],
        "byte_size": encoded / 4 * 3,
    })
}

fn tool_result_part(block: &mut Value, block_type: &str) -> MessagePart {
    let content = block.get_mut("content").map_or(Value::Null, Value::take);
    let (text, images) = match content {
        Value::String(text) => (Some(text), 0),
        Value::Array(items) => {
            let texts: Vec<&str> = items.iter().filter_map(|item| item["text"].as_str()).collect();
            let images = items.iter().filter(|item| item["type"] == "image").count();
            ((!texts.is_empty()).then(|| texts.join("\n")), images)
        }
        _ => (None, 0),
    };
    let mut metadata = Map::new();
    if images > 0 {
        metadata.insert("images".into(), json!(images));
    }
    if block_type != "tool_result" {
        metadata.insert("type".into(), json!(block_type));
    }
    MessagePart {
        text,
        tool_call_id: take_text(block, "tool_use_id"),
        is_error: block["is_error"].as_bool(),
        metadata: (!metadata.is_empty()).then_some(Value::Object(metadata)),
        ..MessagePart::new(PartKind::ToolResult)
    }
}

/// The parts of a user or assistant line's `message.content`, its texts moved into them.
pub fn content_parts(content: Value, report: &mut ParseReport) -> Vec<MessagePart> {
    match content {
        Value::String(text) => vec![MessagePart::text(text)],
        Value::Array(blocks) => blocks.into_iter().map(|block| block_part(block, report)).collect(),
        Value::Null => Vec::new(),
        other => vec![MessagePart { metadata: Some(json!({ "content": other })), ..MessagePart::new(PartKind::Other) }],
    }
}

/// What a `usage` object says of a billed response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageCounts {
    /// Input, output, cache-read and cache-creation token counts.
    pub tokens: [u64; 4],
    /// `cache_creation.ephemeral_5m_input_tokens` and `ephemeral_1h_input_tokens`, when recorded.
    pub cache_creation_5m: Option<u64>,
    pub cache_creation_1h: Option<u64>,
    pub service_tier: Option<String>,
    pub speed: Option<String>,
}

/// The counts of a `usage` object; `None` unless it is an object.
pub fn usage_counts(usage: &Value) -> Option<UsageCounts> {
    usage.is_object().then(|| {
        let split = |key: &str| {
            let count = &usage["cache_creation"][key];
            (!count.is_null()).then(|| hindcast_core::model::token_count(count))
        };
        let text = |key: &str| usage[key].as_str().map(str::to_string);
        UsageCounts {
            tokens: ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"]
                .map(|key| hindcast_core::model::token_count(&usage[key])),
            cache_creation_5m: split("ephemeral_5m_input_tokens"),
            cache_creation_1h: split("ephemeral_1h_input_tokens"),
            service_tier: text("service_tier"),
            speed: text("speed"),
        }
    })
}
