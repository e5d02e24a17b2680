-- The 50 best-selling products by gross line revenue (quantity x unit price, before the order's discount,
-- which applies to the whole order and cannot be split by product faithfully). Cancelled orders left out.
with sold as (
    select
        i.product_id,
        sum(i.quantity) as units,
        sum(i.quantity * i.unit_price) as revenue,
        count(distinct i.order_id) as orders,
        max(o.order_ts) as last_sold_at
    from $order_items as i
    join $orders as o on o.order_id = i.order_id
    where o.status <> 'cancelled'
    group by i.product_id
),
ranked as (
    select
        row_number() over (order by s.revenue desc, s.product_id) as product_rank,
        s.product_id,
        p.sku,
        p.name as product_name,
        p.category,
        s.units,
        s.revenue,
        s.orders,
        s.last_sold_at
    from sold as s
    join $products as p on p.product_id = s.product_id
)
select * from ranked where product_rank <= 50
