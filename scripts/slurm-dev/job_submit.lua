-- job_submit.lua - installed next to slurm.conf by scripts/slurm-dev.sh.
--
-- The dev cluster has ONE node carrying 8 fake a100 and 8 fake h100 GPUs, shared by the
-- partitions a100 and h100.  Without help, `-p h100 --gres=gpu:1` could get an a100.
-- Like on a real cluster, let the partition decide the GPU type: an untyped GPU request
-- (--gres=gpu[:N], --gpus=N, --gpus-per-node/-task/-socket=N) gets the partition's type,
-- and a request for the other type is refused.  Multi-partition jobs are left alone.
local GPU_TYPE = { a100 = "a100", h100 = "h100" }
local DEFAULT_PARTITION = "a100"
local FIELDS = { "tres_per_node", "tres_per_job", "tres_per_task", "tres_per_socket" }

-- retype("gres:gpu:2,gres:foo:1", "h100") -> "gres:gpu:h100:2,gres:foo:1", nil
local function retype(spec, want)
  local out = {}
  for item in string.gmatch(spec, "[^,]+") do
    local prefix, rest = string.match(item, "^(gres[:/]gpu)(.*)$")
    if prefix then
      local typ = string.match(rest, "^:(%a[%w_%-]*)")   -- types start with a letter
      if typ == nil then
        item = prefix .. ":" .. want .. rest
      elseif typ ~= want then
        return nil, "GPU type " .. typ .. " is not available in this partition (it has " .. want .. ")"
      end
    end
    table.insert(out, item)
  end
  return table.concat(out, ","), nil
end

function slurm_job_submit(job_desc, part_list, submit_uid)
  local want = GPU_TYPE[job_desc.partition or DEFAULT_PARTITION]
  if want == nil then return slurm.SUCCESS end
  for _, field in ipairs(FIELDS) do
    local spec = job_desc[field]
    if spec ~= nil and spec ~= "" then
      local new, err = retype(spec, want)
      if err then
        slurm.log_user("%s", err)
        return slurm.ERROR
      end
      job_desc[field] = new
    end
  end
  return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
  return slurm.SUCCESS
end
