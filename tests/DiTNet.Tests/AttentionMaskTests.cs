using DiTNet.Layers;
using DiTNet.Tensors;

namespace DiTNet.Tests;

public class AttentionMaskTests
{
    [Fact]
    public void Build_NotStreaming_AllowsEveryRealKey()
    {
        var mask = AttentionMask.Build(MaskTensor([1, 1, 1, 1, 0, 0]), streaming: false, staticChunkSize: 3);

        for (int i = 0; i < 6; i++)
        {
            for (int j = 0; j < 6; j++)
            {
                Assert.Equal(j < 4, mask.Allowed(0, i, j));
            }
        }
    }

    [Fact]
    public void Build_Streaming_AllowsOwnChunkAndEarlier()
    {
        int[] valid = [1, 1, 1, 1, 1, 1, 1, 0];
        var mask = AttentionMask.Build(MaskTensor(valid), streaming: true, staticChunkSize: 3);

        // chunk ends: rows 0-2 see keys below 3, rows 3-5 below 6, rows 6-7 below 9
        for (int i = 0; i < 8; i++)
        {
            int chunkEnd = (i / 3 + 1) * 3;
            for (int j = 0; j < 8; j++)
            {
                Assert.Equal(valid[j] == 1 && j < chunkEnd, mask.Allowed(0, i, j));
            }
        }
    }

    [Fact]
    public void Build_StreamingChunkZero_UsesPlainMask()
    {
        var mask = AttentionMask.Build(MaskTensor([1, 1, 1, 0]), streaming: true, staticChunkSize: 0);

        Assert.True(mask.Allowed(0, 0, 2));
        Assert.False(mask.Allowed(0, 0, 3));
        Assert.Equal(3, mask.KeyLimit(0, 0));
    }

    [Fact]
    public void Build_AllPaddingItem_MakesEveryRowSeeAll()
    {
        var mask = AttentionMask.Build(MaskTensor([1, 1, 0], [0, 0, 0]), streaming: false, staticChunkSize: 0);

        for (int i = 0; i < 3; i++)
        {
            Assert.True(mask.RowSeesAll(1, i));
            Assert.Equal(3, mask.KeyLimit(1, i));
            for (int j = 0; j < 3; j++)
            {
                Assert.True(mask.Allowed(1, i, j));
            }
        }
        Assert.False(mask.RowSeesAll(0, 0));
    }

    [Fact]
    public void Build_StreamingLeadingPadding_RowsWithoutRealKeysSeeAll()
    {
        // chunk 2: rows 0-1 see keys 0-1, both padding, so they see everything; rows 2-3 see key 2
        var mask = AttentionMask.Build(MaskTensor([0, 0, 1, 1, 1]), streaming: true, staticChunkSize: 2);

        Assert.True(mask.RowSeesAll(0, 0));
        Assert.True(mask.RowSeesAll(0, 1));
        Assert.True(mask.Allowed(0, 1, 4));
        Assert.False(mask.RowSeesAll(0, 2));
        Assert.False(mask.Allowed(0, 2, 1));
        Assert.True(mask.Allowed(0, 2, 2));
        Assert.False(mask.Allowed(0, 2, 4));
    }

    [Fact]
    public void QueryValid_MixedItems_EqualsLastRowOfAllowed()
    {
        int[][] items = [[1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0], [0, 1, 1, 0, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1]];
        foreach (bool streaming in new[] { false, true })
        {
            var mask = AttentionMask.Build(MaskTensor(items), streaming, staticChunkSize: 3);
            for (int b = 0; b < items.Length; b++)
            {
                for (int i = 0; i < 7; i++)
                {
                    Assert.Equal(mask.Allowed(b, 6, i), mask.QueryValid(b, i));
                    bool expected = b == 1 || items[b][i] == 1;
                    Assert.Equal(expected, mask.QueryValid(b, i));
                }
            }
        }
    }

    [Fact]
    public void QueryLimit_MixedItems_BoundsTheKeptRows()
    {
        int[][] items = [[1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 1, 0, 1, 0, 0], [1, 1, 1, 1, 1, 1]];
        var mask = AttentionMask.Build(MaskTensor(items), streaming: true, staticChunkSize: 4);

        Assert.Equal(3, mask.QueryLimit(0));
        Assert.Equal(6, mask.QueryLimit(1));
        Assert.Equal(4, mask.QueryLimit(2));
        Assert.Equal(6, mask.QueryLimit(3));
        for (int b = 0; b < items.Length; b++)
        {
            int limit = mask.QueryLimit(b);
            Assert.True(mask.QueryValid(b, limit - 1), $"item {b}: the last row below the limit must be kept");
            for (int i = limit; i < 6; i++)
            {
                Assert.False(mask.QueryValid(b, i), $"item {b}: row {i} at or past the limit {limit} must be zeroed");
            }
        }
    }

    [Fact]
    public void KeyLimitAndKeyValid_ArbitraryMasks_MatchAllowed()
    {
        // includes padding at the start, in the middle and at the end, and chunk sizes that do not divide N
        int[][] items = [[0, 1, 1, 0, 1, 1, 0, 0, 1], [1, 1, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0, 0, 0]];
        foreach ((bool streaming, int chunk) in new[] { (false, 0), (true, 2), (true, 4), (true, 9), (true, 20) })
        {
            var mask = AttentionMask.Build(MaskTensor(items), streaming, chunk);
            for (int b = 0; b < items.Length; b++)
            {
                for (int i = 0; i < 9; i++)
                {
                    int limit = mask.KeyLimit(b, i);
                    ReadOnlySpan<bool> keys = mask.KeyValid(b, i);
                    Assert.Equal(limit, keys.Length);
                    bool anyAllowed = false;
                    for (int j = 0; j < 9; j++)
                    {
                        bool expected = mask.Allowed(b, i, j);
                        Assert.Equal(expected, j < limit && keys[j]);
                        anyAllowed |= expected;
                        if (mask.KeysContiguous(b, i) && j < limit)
                        {
                            Assert.True(expected);
                        }
                    }
                    Assert.True(anyAllowed);
                }
            }
        }
    }

    [Fact]
    public void Build_AllowedPattern_MatchesDefinitionByBruteForce()
    {
        var random = new RandomSource(3);
        for (int trial = 0; trial < 50; trial++)
        {
            int frames = 1 + random.NextInt(12), chunk = random.NextInt(6);
            bool streaming = random.NextDouble() < 0.7;
            var items = new int[3][];
            for (int b = 0; b < 3; b++)
            {
                items[b] = Enumerable.Range(0, frames).Select(_ => random.NextDouble() < 0.6 ? 1 : 0).ToArray();
            }
            var mask = AttentionMask.Build(MaskTensor(items), streaming, chunk);

            for (int b = 0; b < 3; b++)
            {
                // the reference: the pattern, then rows with nothing allowed made all true
                var allowed = new bool[frames, frames];
                for (int i = 0; i < frames; i++)
                {
                    bool any = false;
                    for (int j = 0; j < frames; j++)
                    {
                        allowed[i, j] = items[b][j] == 1 && (!streaming || chunk == 0 || j < (i / chunk + 1) * chunk);
                        any |= allowed[i, j];
                    }
                    for (int j = 0; j < frames && !any; j++)
                    {
                        allowed[i, j] = true;
                    }
                }
                for (int i = 0; i < frames; i++)
                {
                    for (int j = 0; j < frames; j++)
                    {
                        Assert.True(allowed[i, j] == mask.Allowed(b, i, j),
                            $"trial {trial}, item {b}, query {i}, key {j}: expected {allowed[i, j]} (N {frames}, chunk {chunk}, streaming {streaming})");
                    }
                    Assert.Equal(allowed[frames - 1, i], mask.QueryValid(b, i));
                }
            }
        }
    }

    [Fact]
    public void Build_WrongShape_ThrowsNamingShape()
    {
        var error = Assert.Throws<ArgumentException>(() => AttentionMask.Build(new Tensor<float>(2, 5), false, 0));
        Assert.Contains("[2, 5]", error.Message);
        Assert.Equal("mask", error.ParamName);
    }

    [Fact]
    public void Build_NegativeChunkSize_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => AttentionMask.Build(MaskTensor([1, 1]), true, -1));
    }

    internal static Tensor<float> MaskTensor(params int[][] items)
    {
        int frames = items[0].Length;
        var mask = new Tensor<float>(items.Length, 1, frames);
        for (int b = 0; b < items.Length; b++)
        {
            for (int j = 0; j < frames; j++)
            {
                mask[b * frames + j] = items[b][j];
            }
        }
        return mask;
    }
}
