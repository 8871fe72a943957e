// Wording -- small pieces of English the tooling's messages share, so that a name never reads "a an" or "a object".
namespace Pmem.Tooling;

/// <summary>Grammar for messages that put a name the file or pool chose after an article.</summary>
internal static class Wording
{
    /// <summary><paramref name="noun"/> after "a", or "an" when it starts with a vowel letter ("an enum:System.Int16", "a tooltests.book").</summary>
    public static string WithArticle(string noun) =>
        (noun.Length > 0 && "aeiouAEIOU".Contains(noun[0]) ? "an " : "a ") + noun;
}
