using Pmem.Objects;

namespace Pmem.Pool;

/// <summary>A pool file holding persistent objects (being written: the surface generated code calls).</summary>
public sealed partial class PersistentPool : IDisposable
{
    private PersistentPool() { }

    internal T ReadValue<T>(long offset) where T : unmanaged => throw Pending();
    internal void WriteValue<T>(long offset, T value) where T : unmanaged => throw Pending();
    internal string? ReadString(long offset) => throw Pending();
    internal void WriteString(long offset, string? value) => throw Pending();
    internal T? ReadReference<T>(long offset) where T : PersistentObject, IPersistentObject<T> => throw Pending();
    internal void WriteReference<T>(long offset, T? value) where T : PersistentObject, IPersistentObject<T> => throw Pending();

    /// <summary>Allocates a new zeroed object of type <typeparamref name="T"/>.</summary>
    public T New<T>() where T : PersistentObject, IPersistentObject<T> => throw Pending();

    /// <summary>The pool's root object, created on first use.</summary>
    public T Root<T>() where T : PersistentObject, IPersistentObject<T> => throw Pending();

    /// <inheritdoc />
    public void Dispose() { }

    private static InvalidOperationException Pending() => new("The pool layer is under construction.");
}
