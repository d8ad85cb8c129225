namespace DiTNet.Kernels;

/// <summary>
/// Splits <c>[0, count)</c> into one contiguous range per thread and runs a body on each range on the
/// kernels' persistent workers, for elementwise passes over rows or column blocks.
/// </summary>
/// <remarks>
/// The body must write disjoint outputs for disjoint ranges and compute each output the same way
/// whatever range it falls in. Then results are bitwise independent of the thread count, which is why
/// a reduction over rows splits columns, never rows. Callers keep their body delegate in a field, so a
/// call allocates nothing.
/// </remarks>
internal sealed class ParallelRanges : IParallelWork
{
    // Below this many elements of work a pass runs on the calling thread: waking a worker costs
    // several microseconds, about what one core takes for this many simple elementwise operations.
    private const long ParallelThreshold = 1L << 15;

    [ThreadStatic]
    private static ParallelRanges? t_cached;

    private Action<int, int>? _body;
    private int _count;
    private int _parts;

    /// <summary>Runs <paramref name="body"/>(start, end) over ranges covering <c>[0, count)</c>.</summary>
    /// <param name="count">The number of rows (or column blocks).</param>
    /// <param name="elementsPerItem">The elements each row touches, to decide whether threads pay off.</param>
    /// <param name="threads">Threads; 0 or less uses <see cref="Gemm.DefaultThreads"/>.</param>
    /// <param name="body">The work on rows <c>[start, end)</c>.</param>
    public static void Run(int count, long elementsPerItem, int threads, Action<int, int> body)
    {
        if (count <= 0)
        {
            return;
        }
        int parts = threads > 0 ? threads : Gemm.DefaultThreads;
        parts = Math.Clamp(Math.Min(parts, count), 1, WorkerPool.MaxParts);
        if (parts == 1 || count * elementsPerItem < ParallelThreshold)
        {
            body(0, count);
            return;
        }

        var work = t_cached ?? new ParallelRanges();
        t_cached = null;
        work._body = body;
        work._count = count;
        work._parts = parts;
        try
        {
            WorkerPool.Shared.Run(work, parts);
        }
        finally
        {
            work._body = null;
            t_cached = work;
        }
    }

    /// <inheritdoc/>
    public void Execute(int part)
    {
        int start = (int)((long)_count * part / _parts), end = (int)((long)_count * (part + 1) / _parts);
        if (start < end)
        {
            _body!(start, end);
        }
    }
}
