// SchemaLockReader -- reads pmem.schema.json into a LockedSchema with a small JSON parser (no package in a generator).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using Pmem.Generators.Helpers;

namespace Pmem.Generators.SchemaLock;

/// <summary>
/// Reads the schema lock file (format in docs/generator.md, "Schema lock file"). A generator cannot easily bring
/// System.Text.Json into every compiler host, and the file is small, so this is a strict reader of plain JSON (objects,
/// arrays, strings, numbers, true, false, null) that ignores members it does not know.
/// </summary>
internal static class SchemaLockReader
{
    /// <summary>The lock file format this generator reads.</summary>
    public const int Format = 1;

    /// <summary>The schema in <paramref name="text"/>, or one with <see cref="LockedSchema.Problem"/> saying why it cannot be used.</summary>
    public static LockedSchema Read(string path, string? text)
    {
        try
        {
            if (text is null)
            {
                throw new FormatException("the file cannot be read");
            }

            var root = AsObject(new JsonParser(text).ParseDocument(), "the document");
            if (root.TryGetValue("format", out var format) && AsInt(format, "format") != Format)
            {
                throw new FormatException($"it has format {AsInt(format, "format")}, and this generator reads format {Format}");
            }

            var types = new List<LockedType>();
            if (root.TryGetValue("types", out var typeList))
            {
                foreach (var item in AsArray(typeList, "types"))
                {
                    types.Add(ReadType(AsObject(item, "a type")));
                }
            }

            var duplicate = types.GroupBy(type => type.DurableName, StringComparer.Ordinal).FirstOrDefault(group => group.Count() > 1);
            if (duplicate is not null)
            {
                throw new FormatException($"it lists the type '{duplicate.Key}' twice");
            }

            return new LockedSchema(path, types.ToEquatableArray(), null);
        }
        catch (FormatException exception)
        {
            return new LockedSchema(path, EquatableArray<LockedType>.Empty, exception.Message);
        }
    }

    private static LockedType ReadType(Dictionary<string, object?> type)
    {
        var name = RequiredString(type, "name", "a type");
        var version = type.TryGetValue("version", out var value) ? AsInt(value, $"the version of '{name}'") : 1;
        var properties = new List<LockedProperty>();
        if (type.TryGetValue("properties", out var list))
        {
            foreach (var item in AsArray(list, $"the properties of '{name}'"))
            {
                var property = AsObject(item, $"a property of '{name}'");
                var propertyName = RequiredString(property, "name", $"a property of '{name}'");
                properties.Add(new LockedProperty(
                    propertyName,
                    RequiredString(property, "storageType", $"the property '{propertyName}' of '{name}'"),
                    property.TryGetValue("target", out var target) ? target as string : null));
            }
        }

        return new LockedType(name, version, properties.ToEquatableArray());
    }

    private static string RequiredString(Dictionary<string, object?> value, string member, string what) =>
        value.TryGetValue(member, out var text) && text is string { Length: > 0 } nonEmpty
            ? nonEmpty
            : throw new FormatException($"{what} has no \"{member}\" string");

    private static Dictionary<string, object?> AsObject(object? value, string what) =>
        value as Dictionary<string, object?> ?? throw new FormatException($"{what} is not a JSON object");

    private static List<object?> AsArray(object? value, string what) =>
        value as List<object?> ?? throw new FormatException($"{what} is not a JSON array");

    private static int AsInt(object? value, string what) =>
        value is double number && number == Math.Floor(number) && number is >= int.MinValue and <= int.MaxValue
            ? (int)number
            : throw new FormatException($"{what} is not a whole number");

    /// <summary>Recursive descent over one JSON text: objects become dictionaries, arrays lists, numbers doubles.</summary>
    private sealed class JsonParser(string text)
    {
        private int _position;

        public object? ParseDocument()
        {
            var value = ParseValue();
            SkipWhitespace();
            return _position == text.Length ? value : throw Error("unexpected text after the document");
        }

        private object? ParseValue()
        {
            SkipWhitespace();
            if (_position == text.Length)
            {
                throw Error("unexpected end of the file");
            }

            switch (text[_position])
            {
                case '{':
                    return ParseObject();
                case '[':
                    return ParseArray();
                case '"':
                    return ParseString();
                case 't':
                    return Literal("true", true);
                case 'f':
                    return Literal("false", false);
                case 'n':
                    return Literal("null", null);
                default:
                    return ParseNumber();
            }
        }

        private Dictionary<string, object?> ParseObject()
        {
            var result = new Dictionary<string, object?>(StringComparer.Ordinal);
            _position++;
            SkipWhitespace();
            if (TryConsume('}'))
            {
                return result;
            }

            do
            {
                SkipWhitespace();
                if (_position == text.Length || text[_position] != '"')
                {
                    throw Error("expected a member name");
                }

                var name = ParseString();
                SkipWhitespace();
                Expect(':');
                result[name] = ParseValue();
                SkipWhitespace();
            }
            while (TryConsume(','));

            Expect('}');
            return result;
        }

        private List<object?> ParseArray()
        {
            var result = new List<object?>();
            _position++;
            SkipWhitespace();
            if (TryConsume(']'))
            {
                return result;
            }

            do
            {
                result.Add(ParseValue());
                SkipWhitespace();
            }
            while (TryConsume(','));

            Expect(']');
            return result;
        }

        private string ParseString()
        {
            var builder = new StringBuilder();
            _position++;
            while (_position < text.Length)
            {
                var current = text[_position++];
                if (current == '"')
                {
                    return builder.ToString();
                }

                if (current != '\\')
                {
                    builder.Append(current);
                    continue;
                }

                if (_position == text.Length)
                {
                    break;
                }

                var escape = text[_position++];
                builder.Append(escape switch
                {
                    '"' or '\\' or '/' => escape,
                    'b' => '\b',
                    'f' => '\f',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'u' when _position + 4 <= text.Length
                        && int.TryParse(text.Substring(_position, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var code) => Unicode(code),
                    _ => throw Error($"invalid escape '\\{escape}'"),
                });
            }

            throw Error("unterminated string");
        }

        private char Unicode(int code)
        {
            _position += 4;
            return (char)code;
        }

        private double ParseNumber()
        {
            var start = _position;
            while (_position < text.Length && "+-0123456789.eE".IndexOf(text[_position]) >= 0)
            {
                _position++;
            }

            return double.TryParse(text.Substring(start, _position - start), NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
                ? number
                : throw Error("expected a value");
        }

        private object? Literal(string word, object? value)
        {
            if (string.CompareOrdinal(text, _position, word, 0, word.Length) != 0)
            {
                throw Error("expected a value");
            }

            _position += word.Length;
            return value;
        }

        private void SkipWhitespace()
        {
            while (_position < text.Length && char.IsWhiteSpace(text[_position]))
            {
                _position++;
            }
        }

        private bool TryConsume(char expected)
        {
            if (_position < text.Length && text[_position] == expected)
            {
                _position++;
                return true;
            }

            return false;
        }

        private void Expect(char expected)
        {
            if (!TryConsume(expected))
            {
                throw Error($"expected '{expected}'");
            }
        }

        private FormatException Error(string message)
        {
            var line = 1 + text.Take(Math.Min(_position, text.Length)).Count(character => character == '\n');
            return new FormatException($"{message} at line {line.ToString(CultureInfo.InvariantCulture)}");
        }
    }
}
