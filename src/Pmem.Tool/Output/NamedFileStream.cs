// NamedFileStream -- a new file the tool writes, whose every failure is a FileWriteException naming the file its user knows.
using Pmem.Tooling;

namespace Pmem.Tool.Output;

/// <summary>
/// A file created new and written front to back. Any failure to create, write, flush or close it throws
/// <see cref="FileWriteException"/> naming the file its user knows (the destination a hidden temporary file stands
/// for, or the directory it was made in), with the hidden path replaced by that name in the message: a command tells
/// a write failure from its pool's damage by the type, not by the text.
/// </summary>
internal sealed class NamedFileStream : WriteOnlyStream
{
    private readonly string _path;
    private readonly string _shown;
    private readonly FileStream _file;
    private bool _failed;

    /// <summary>Creates <paramref name="path"/>, which must not exist; failures name <paramref name="shown"/>.</summary>
    public NamedFileStream(string path, string shown, FileOptions options = FileOptions.None)
    {
        (_path, _shown) = (path, shown);
        try
        {
            _file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, options);
        }
        catch (Exception e) when (FileWriteException.IsWriteFailure(e))
        {
            throw Named(e);
        }
    }

    /// <summary>The file itself, to read back what was written (a buffer copied elsewhere once whole).</summary>
    public FileStream Inner => _file;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        try
        {
            _file.Write(buffer);
        }
        catch (Exception e) when (FileWriteException.IsWriteFailure(e))
        {
            throw Named(e);
        }
    }

    public override void Flush()
    {
        try
        {
            _file.Flush();
        }
        catch (Exception e) when (FileWriteException.IsWriteFailure(e))
        {
            throw Named(e);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            try
            {
                _file.Dispose(); // writes what is buffered: a full disk can show here first
            }
            catch (Exception e) when (FileWriteException.IsWriteFailure(e) && !_failed)
            {
                throw Named(e);
            }
            catch (Exception e) when (FileWriteException.IsWriteFailure(e))
            {
                // The failure was thrown already (the buffer it could not write is what failed again); the handle is closed.
            }
        }

        base.Dispose(disposing);
    }

    /// <summary>Flushes what is buffered and then the file's data to the disk (fsync).</summary>
    public void FlushToDisk()
    {
        try
        {
            _file.Flush(flushToDisk: true);
        }
        catch (Exception e) when (FileWriteException.IsWriteFailure(e))
        {
            throw Named(e);
        }
    }

    private FileWriteException Named(Exception e)
    {
        _failed = true;
        return FileWriteException.Renamed(e, _path, _shown);
    }
}
